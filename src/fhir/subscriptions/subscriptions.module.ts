import { Module } from '@nestjs/common';
import { RestModule } from '../rest/rest.module';
import { SearchModule } from '../search/search.module';
import { StorageModule } from '../storage/storage.module';
import { RestHookDeliverer } from './rest-hook.deliverer';
import { SubscriptionEvents } from './subscription-events';
import { SubscriptionMatcher } from './subscription-matcher';
import { SubscriptionWebSocketServer } from './websocket-server';

/** R4 Subscriptions: change-feed matching, rest-hook delivery on the job queue, websocket pings. */
@Module({
  imports: [StorageModule, SearchModule, RestModule],
  providers: [SubscriptionEvents, SubscriptionMatcher, RestHookDeliverer, SubscriptionWebSocketServer],
})
export class SubscriptionsModule {}
