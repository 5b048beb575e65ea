import { Module } from '@nestjs/common';
import { ResourceValidator } from './resource-validator';

@Module({ providers: [ResourceValidator], exports: [ResourceValidator] })
export class ValidationModule {}
