// `npm run cloud:create-user -- --email ops@example.com --role admin [--user-pool-id <id>] [--stack Quantify]`:
// invites a person to the operator portal in the cloud (AWS SDK, the default credential chain and region).
// Cognito creates the user with the e-mail as user name (verified: it came from an admin) and e-mails a
// temporary password; the user joins the group named by the role (admin, operator or viewer: the groups the
// API's JWT authorizer and the portal read roles from). The pool id comes from --user-pool-id, else from
// COGNITO_USER_POOL_ID, else from the stack's UserPoolId output. Running it again for an existing user only
// adds the group (no second invitation).
import 'dotenv/config';
import { parseArgs } from 'node:util';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  CognitoIdentityProviderClient,
  UsernameExistsException,
} from '@aws-sdk/client-cognito-identity-provider';
import * as z from 'zod';
import { readers } from '#domain/roles';

/** People's roles: the collector is a machine credential, not someone who signs in to the portal. */
const request = z.object({
  email: z.email('must be an e-mail address'),
  role: z.enum(readers as ['admin', 'operator', 'viewer'], { error: `must be one of ${readers.join(', ')}` }),
});
export type CreateUserRequest = z.infer<typeof request>;

export class CreateUserError extends Error {
  override name = 'CreateUserError';
}

/** The request a command line asks for, or an error naming what is wrong with it. */
export function parseCreateUserArgs(argv: readonly string[]): CreateUserRequest & { userPoolId?: string; stack: string } {
  const { values } = parseArgs({
    args: [...argv],
    options: { email: { type: 'string' }, role: { type: 'string' }, 'user-pool-id': { type: 'string' }, stack: { type: 'string', default: 'Quantify' } },
    strict: true,
  });
  const parsed = request.safeParse({ email: values.email, role: values.role });
  if (!parsed.success) throw new CreateUserError(parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '));
  const userPoolId = values['user-pool-id'];
  if (userPoolId !== undefined && !/^[\w-]+_[0-9A-Za-z]+$/.test(userPoolId)) throw new CreateUserError(`--user-pool-id: not a user pool id: ${userPoolId}`);
  return { ...parsed.data, ...(userPoolId ? { userPoolId } : {}), stack: values.stack ?? 'Quantify' };
}

/** The user pool id among the stack's outputs (the API construct's UserPoolId output). */
export async function userPoolIdFromStack(cloudformation: CloudFormationClient, stackName: string): Promise<string> {
  const { Stacks } = await cloudformation.send(new DescribeStacksCommand({ StackName: stackName }));
  const output = Stacks?.[0]?.Outputs?.find((o) => /^ApiUserPoolId[0-9A-F]*$/.test(o.OutputKey ?? ''));
  if (!output?.OutputValue) throw new CreateUserError(`stack ${stackName} has no UserPoolId output: deploy it first, or pass --user-pool-id`);
  return output.OutputValue;
}

export interface CreatedUser {
  userPoolId: string;
  email: string;
  role: CreateUserRequest['role'];
  /** False when the user already existed (no new invitation was sent). */
  invited: boolean;
}

export async function createPortalUser(cognito: CognitoIdentityProviderClient, userPoolId: string, user: CreateUserRequest): Promise<CreatedUser> {
  let invited = true;
  try {
    await cognito.send(
      new AdminCreateUserCommand({
        UserPoolId: userPoolId,
        Username: user.email,
        UserAttributes: [
          { Name: 'email', Value: user.email },
          { Name: 'email_verified', Value: 'true' },
        ],
        DesiredDeliveryMediums: ['EMAIL'],
      }),
    );
  } catch (error) {
    if (!(error instanceof UsernameExistsException)) throw error;
    invited = false;
  }
  await cognito.send(new AdminAddUserToGroupCommand({ UserPoolId: userPoolId, Username: user.email, GroupName: user.role }));
  return { userPoolId, email: user.email, role: user.role, invited };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  try {
    const args = parseCreateUserArgs(process.argv.slice(2));
    const userPoolId = args.userPoolId ?? (process.env.COGNITO_USER_POOL_ID || undefined) ?? (await userPoolIdFromStack(new CloudFormationClient({}), args.stack));
    const created = await createPortalUser(new CognitoIdentityProviderClient({}), userPoolId, args);
    console.log(
      created.invited
        ? `Invited ${created.email} as ${created.role} to ${userPoolId}: Cognito e-mails a temporary password; sign in at the portal URL (stack output PortalUrl).`
        : `${created.email} already exists in ${userPoolId}; added to the ${created.role} group (no new invitation sent).`,
    );
  } catch (error) {
    console.error(error instanceof CreateUserError ? `cloud:create-user: ${error.message}` : error);
    console.error('usage: npm run cloud:create-user -- --email <address> --role admin|operator|viewer [--user-pool-id <id>] [--stack <name>]');
    process.exit(2);
  }
}
