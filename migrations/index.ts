import { ResourceStorage1764086400000 } from './1764086400000-ResourceStorage';
import { Auth1795623990665 } from './1795623990665-Auth';
import { BinaryStorage1795624178708 } from './1795624178708-BinaryStorage';
import { SearchIndex1795624215182 } from './1795624215182-SearchIndex';
import { Audit1795624483573 } from './1795624483573-Audit';
import { ChangeFeed1795624990187 } from './1795624990187-ChangeFeed';
import { BulkExport1795625656312 } from './1795625656312-BulkExport';
import { Subscriptions1795626424606 } from './1795626424606-Subscriptions';
import { AuditRowHash1795627405005 } from './1795627405005-AuditRowHash';
import { SearchParameterState1795627562964 } from './1795627562964-SearchParameterState';
import { SubscriptionSnapshots1795628187334 } from './1795628187334-SubscriptionSnapshots';
import { BulkExportHeartbeat1795630078559 } from './1795630078559-BulkExportHeartbeat';
import { SubscriptionOwner1795634000000 } from './1795634000000-SubscriptionOwner';
import { SearchIndexContained1795635000000 } from './1795635000000-SearchIndexContained';
import { AuthRateLimit1795636000000 } from './1795636000000-AuthRateLimit';
import { SearchIndexKeysFromWriter1795637000000 } from './1795637000000-SearchIndexKeysFromWriter';
import { SearchIndexRowKey1795638000000 } from './1795638000000-SearchIndexRowKey';
import { SearchIndexDateByResource1795639000000 } from './1795639000000-SearchIndexDateByResource';
import { AuditSealInDatabase1795640000000 } from './1795640000000-AuditSealInDatabase';
import { ResourceContentLz41795641000000 } from './1795641000000-ResourceContentLz4';
import { SearchIndexOwnerDates1795642000000 } from './1795642000000-SearchIndexOwnerDates';
import { SearchIndexResourceHash1795643000000 } from './1795643000000-SearchIndexResourceHash';
import { SearchIndexStatisticsSample1795644000000 } from './1795644000000-SearchIndexStatisticsSample';
import { AuditSealLoop1795645000000 } from './1795645000000-AuditSealLoop';
import { SearchIndexPosition1795646000000 } from './1795646000000-SearchIndexPosition';
import { SubscriptionOwnerAdminRole1795647300000 } from './1795647300000-SubscriptionOwnerAdminRole';

/** Every migration, in order. New migrations are appended here. */
export const migrations = [ResourceStorage1764086400000, Auth1795623990665, BinaryStorage1795624178708, SearchIndex1795624215182, Audit1795624483573, ChangeFeed1795624990187, BulkExport1795625656312, Subscriptions1795626424606, AuditRowHash1795627405005, SearchParameterState1795627562964, SubscriptionSnapshots1795628187334, BulkExportHeartbeat1795630078559, SubscriptionOwner1795634000000, SearchIndexContained1795635000000, AuthRateLimit1795636000000, SearchIndexKeysFromWriter1795637000000, SearchIndexRowKey1795638000000, SearchIndexDateByResource1795639000000, AuditSealInDatabase1795640000000, ResourceContentLz41795641000000, SearchIndexOwnerDates1795642000000, SearchIndexResourceHash1795643000000, SearchIndexStatisticsSample1795644000000, AuditSealLoop1795645000000, SearchIndexPosition1795646000000, SubscriptionOwnerAdminRole1795647300000];
