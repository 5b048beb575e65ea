import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { CapabilityStatement } from 'fhir/r4';
import { APP_CONFIG, AppConfig } from '../../config/config';
import { CapabilityService } from '../rest/capability.service';

/** Declares in /metadata what this module adds: transaction, batch and the conditional interactions. */
@Injectable()
export class BundleCapabilities implements OnModuleInit {
  constructor(
    private readonly capability: CapabilityService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const deletes = this.config.conditionalDeleteMax > 1 ? 'multiple' : 'single';
    this.capability.addContributor({
      contribute: (cs: CapabilityStatement) => {
        for (const rest of cs.rest ?? []) {
          const codes = new Set((rest.interaction ?? []).map((i) => i.code));
          for (const code of ['transaction', 'batch'] as const) if (!codes.has(code)) (rest.interaction ??= []).push({ code });
          for (const r of rest.resource ?? []) {
            r.conditionalCreate = true;
            r.conditionalUpdate = true;
            r.conditionalDelete = deletes;
          }
        }
      },
    });
  }
}
