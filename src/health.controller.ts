import { Controller, Get, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Database } from './database/database';

/** Liveness and readiness probes (outside /fhir, no auth). */
@Controller()
export class HealthController {
  constructor(private readonly db: Database) {}

  @Get('healthz')
  healthz(@Res() res: Response) {
    res.status(200).json({ status: 'ok' });
  }

  @Get('readyz')
  async readyz(@Res() res: Response) {
    const ok = await this.db.ping();
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'database unreachable' });
  }
}
