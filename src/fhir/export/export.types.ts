/** Search criteria alternatives: OR of ANDs of search parameter pairs; [] = no restriction. */
export type Criteria = [string, string][][];

/** What a kick-off asked for, resolved and validated (stored with the job). */
export interface ExportParams {
  level: 'system' | 'patient' | 'group';
  groupId?: string;
  /** resource types to export, in output order */
  types: string[];
  /** ISO instant: only resources changed at or after it */
  since?: string;
  /** per type: `_typeFilter` queries combined with the token's granular scopes */
  filters: Record<string, Criteria>;
  /** Patient and Group level: the patients whose compartments are exported; undefined = every patient */
  patients?: string[];
}

export type ExportStatus = 'accepted' | 'in-progress' | 'completed' | 'failed';

/** One NDJSON file of the manifest (bulk-data `output` / `error` entries). */
export interface ExportFile {
  type: string;
  /** file name inside the job's folder */
  file: string;
  count: number;
}

export interface ExportJob {
  id: string;
  clientId: string | null;
  status: ExportStatus;
  request: string;
  params: ExportParams;
  transactionTime: Date;
  progress: string | null;
  output: ExportFile[];
  error: ExportFile[];
  message: string | null;
  /** the run that owns the job (files live in a folder per attempt) */
  attempt: number;
  completedAt: Date | null;
  expiresAt: Date;
}

/** The pg-boss queue of export jobs; the job data is `{ exportId }`. */
export const EXPORT_QUEUE = 'bulk-export';
