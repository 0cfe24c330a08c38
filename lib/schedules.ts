// The scheduled-jobs capability: one EventBridge Scheduler schedule per entry of the shared job table,
// with the table's expression verbatim, so the cloud runs jobs exactly when the local scheduler does (the
// billing job's rate is a deployment setting, billingIntervalMinutes, as BILLING_INTERVAL_MIN is locally).
import { Aws, Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import { arnWildcardFinding } from './nag.ts';
import { scheduledJobs, type JobName, type ScheduledJob } from '#shared/routes';

export interface SchedulesProps {
  /** The function each job runs. A Record, so a job added to the table without a function fails to compile. */
  readonly jobs: Record<JobName, lambda.IFunction>;
  /** How often the billing job runs (minutes, 1-1440). @default the job table's rate(15 minutes) */
  readonly billingIntervalMinutes?: number;
}

/** EventBridge's rate expression for every `minutes` minutes (singular for 1, as EventBridge requires). */
export function rateMinutes(minutes: number): string {
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) throw new RangeError(`a billing interval is a whole number of minutes from 1 to 1440, not ${minutes}`);
  return minutes === 1 ? 'rate(1 minute)' : `rate(${minutes} minutes)`;
}

/** The event a job's Lambda receives: which job fired (the same function could serve several). */
interface ScheduledJobEvent {
  job: JobName;
}

export class Schedules extends Construct {
  public readonly schedules: readonly Schedule[];

  constructor(scope: Construct, id: string, props: SchedulesProps) {
    super(scope, id);
    const billing = props.billingIntervalMinutes === undefined ? undefined : rateMinutes(props.billingIntervalMinutes);
    this.schedules = scheduledJobs.map((job) => this.schedule(job.name === 'billing' && billing ? { ...job, expression: billing } : job, props.jobs[job.name]));
  }

  private schedule(job: ScheduledJob, fn: lambda.IFunction): Schedule {
    const event: ScheduledJobEvent = { job: job.name };
    // One role per job, allowed to invoke only that job's function.
    const role = new iam.Role(this, `Role_${job.name}`, {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: `Lets EventBridge Scheduler run the ${job.name} job`,
    });
    Validations.of(role).acknowledge({
      id: arnWildcardFinding(fn),
      reason: 'The invoke grant covers the function and its versions/aliases (Arn:*) of this one job function only.',
    });
    return new Schedule(this, `Job_${job.name}`, {
      schedule: ScheduleExpression.expression(job.expression),
      description: job.description,
      target: new LambdaInvoke(fn, {
        role,
        input: ScheduleTargetInput.fromObject(event),
        // Jobs are idempotent and the next tick is minutes away: retry briefly, then let the tick pass
        // rather than pile up late runs (Scheduler's default is 185 retries over 24 hours).
        retryAttempts: 2,
        maxEventAge: Duration.minutes(1),
      }),
    });
  }
}
