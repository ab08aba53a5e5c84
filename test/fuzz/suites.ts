import { lifecycleCampaign } from './lifecycle/suite.js';
import { logCampaign } from './log/suite.js';
import { inputCampaign } from './input/suite.js';
import type { Campaign, CampaignResult, SuiteName } from './report.js';
export { DEFAULT_MAX_COMMANDS } from './report.js';

export const SUITES: Record<SuiteName, (c: Campaign) => Promise<CampaignResult>> = {
  lifecycle: lifecycleCampaign,
  input: inputCampaign,
  log: logCampaign,
};

/** Runs per campaign when neither --runs nor --minutes is given. */
export const DEFAULT_RUNS: Record<SuiteName, number> = { lifecycle: 10, input: 300, log: 2000 };
