import { loadDefinitions } from '../src/fhir/definitions/definitions';

// Builds (or checks) the compact R4 definitions index in generated/ so the first start is fast.
const d = loadDefinitions();
process.stdout.write(`definitions: ${d.resourceTypes.length} resource types, ${d.searchParameters.length} search parameters (${d.source})\n`);
