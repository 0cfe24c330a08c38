// Helpers for acknowledging cdk-nag findings precisely: v3 matches a finding by its exact id, and IAM5
// findings name resources by logical ID, so the ids are computed from the constructs, not hand-copied.
import { CfnResource, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** The logical ID of a construct's CloudFormation resource, as cdk-nag spells it in findings. */
export function logicalIdOf(construct: IConstruct): string {
  const resource = construct instanceof CfnResource ? construct : construct.node.defaultChild;
  if (!(resource instanceof CfnResource)) throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return Stack.of(construct).getLogicalId(resource);
}

/** The IAM5 finding id for a wildcard suffix on a resource's ARN attribute, e.g. `<Fn.Arn>:*`. */
export function arnWildcardFinding(construct: IConstruct, suffix = ':*'): string {
  return `AwsSolutions-IAM5[Resource::<${logicalIdOf(construct)}.Arn>${suffix}]`;
}
