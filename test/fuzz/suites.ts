import { lifecycleCampaign } from './lifecycle/suite.js';
import type { Campaign, CampaignResult, SuiteName } from './report.js';

export const SUITES: Record<SuiteName, (c: Campaign) => Promise<CampaignResult>> = {
  lifecycle: lifecycleCampaign,
  input: async () => { throw new Error('not yet'); },
  log: async () => { throw new Error('not yet'); },
};

/** Runs per campaign when neither --runs nor --minutes is given. */
export const DEFAULT_RUNS: Record<SuiteName, number> = { lifecycle: 10, input: 300, log: 2000 };
