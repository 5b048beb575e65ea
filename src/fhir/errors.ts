import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';

export type IssueCode = OperationOutcomeIssue['code'];

/** An error that becomes an OperationOutcome with this HTTP status. */
export class FhirError extends Error {
  constructor(
    readonly status: number,
    readonly issues: OperationOutcomeIssue[],
    readonly headers: Record<string, string> = {},
  ) {
    super(issues.map((i) => i.diagnostics ?? i.code).join('; '));
  }

  static of(status: number, code: IssueCode, diagnostics: string, expression?: string[]): FhirError {
    return new FhirError(status, [issue(code, diagnostics, expression)]);
  }

  toOperationOutcome(): OperationOutcome {
    return operationOutcome(this.issues);
  }
}

export function issue(
  code: IssueCode,
  diagnostics: string,
  expression?: string[],
  severity: OperationOutcomeIssue['severity'] = 'error',
): OperationOutcomeIssue {
  const i: OperationOutcomeIssue = { severity, code, diagnostics };
  if (expression?.length) i.expression = expression;
  return i;
}

export function operationOutcome(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

export const badRequest = (msg: string, expression?: string[]) => FhirError.of(400, 'invalid', msg, expression);
export const notFound = (msg: string) => FhirError.of(404, 'not-found', msg);
export const gone = (msg: string) => FhirError.of(410, 'deleted', msg);
export const conflict = (msg: string) => FhirError.of(409, 'conflict', msg);
export const preconditionFailed = (msg: string) => FhirError.of(412, 'conflict', msg);
export const notSupported = (status: number, msg: string) => FhirError.of(status, 'not-supported', msg);
export const unprocessable = (issues: OperationOutcomeIssue[]) => new FhirError(422, issues);
