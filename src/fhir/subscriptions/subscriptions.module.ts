import { Module } from '@nestjs/common';
import { AuthModule } from '../../auth/auth.module';
import { RestModule } from '../rest/rest.module';
import { SearchModule } from '../search/search.module';
import { StorageModule } from '../storage/storage.module';
import { RestHookDeliverer } from './rest-hook.deliverer';
import { SubscriptionEvents } from './subscription-events';
import { SubscriptionMatcher } from './subscription-matcher';
import { WebSocketAuth } from './websocket-auth';
import { SubscriptionWebSocketServer } from './websocket-server';

/** R4 Subscriptions: change-feed matching, rest-hook delivery on the job queue, websocket pings (SMART tokens). */
@Module({
  imports: [StorageModule, SearchModule, RestModule, AuthModule],
  providers: [SubscriptionEvents, SubscriptionMatcher, RestHookDeliverer, WebSocketAuth, SubscriptionWebSocketServer],
})
export class SubscriptionsModule {}
