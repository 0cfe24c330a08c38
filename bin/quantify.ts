// The CDK app: one Quantify stack, settings from context, and cdk-nag's AWS Solutions checks run at synth
// so a finding nobody acknowledged (with a reason) stops `cdk synth`.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { QuantifyStack } from '../lib/quantify-stack.ts';
import { stackConfigFromContext } from '../lib/stack-config.ts';

const app = new App();
const stackName: unknown = app.node.tryGetContext('stackName');
new QuantifyStack(app, typeof stackName === 'string' && stackName !== '' ? stackName : 'Quantify', {
  description: 'Quantify: prepaid utility metering and IoT device control',
  config: stackConfigFromContext(app.node),
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
