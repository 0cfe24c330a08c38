// Inviting a portal user in the cloud (AWS SDK mocked): AdminCreateUser with the e-mail verified and an
// e-mailed temporary password, then the role's group; an existing user only gains the group; the pool id
// found among the stack's outputs; bad command lines refused with the reason.
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  CognitoIdentityProviderClient,
  UsernameExistsException,
} from '@aws-sdk/client-cognito-identity-provider';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createPortalUser, parseCreateUserArgs, userPoolIdFromStack } from '../../scripts/cloud-create-user.ts';

const cognito = mockClient(CognitoIdentityProviderClient);
const cloudformation = mockClient(CloudFormationClient);
const pool = 'eu-west-1_AbC123';

beforeEach(() => {
  cognito.reset();
  cloudformation.reset();
});

describe('cloud:create-user', () => {
  it('creates the user with a verified e-mail and an e-mailed temporary password, then adds the role group', async () => {
    // Prepare
    cognito.on(AdminCreateUserCommand).resolves({ User: { Username: 'ops@example.com' } });
    cognito.on(AdminAddUserToGroupCommand).resolves({});

    // Act
    const created = await createPortalUser(new CognitoIdentityProviderClient({}), pool, { email: 'ops@example.com', role: 'admin' });

    // Assess
    expect(created).toEqual({ userPoolId: pool, email: 'ops@example.com', role: 'admin', invited: true });
    const [create] = cognito.commandCalls(AdminCreateUserCommand);
    expect(create?.args[0].input).toEqual({
      UserPoolId: pool,
      Username: 'ops@example.com',
      UserAttributes: [
        { Name: 'email', Value: 'ops@example.com' },
        { Name: 'email_verified', Value: 'true' },
      ],
      DesiredDeliveryMediums: ['EMAIL'],
    });
    const groups = cognito.commandCalls(AdminAddUserToGroupCommand).map((c) => c.args[0].input);
    expect(groups).toEqual([{ UserPoolId: pool, Username: 'ops@example.com', GroupName: 'admin' }]);
  });

  it('only adds the group to a user who already exists (no second invitation)', async () => {
    // Prepare
    cognito.on(AdminCreateUserCommand).rejects(new UsernameExistsException({ message: 'exists', $metadata: {} }));
    cognito.on(AdminAddUserToGroupCommand).resolves({});

    // Act
    const created = await createPortalUser(new CognitoIdentityProviderClient({}), pool, { email: 'ops@example.com', role: 'viewer' });

    // Assess
    expect(created.invited).toBe(false);
    expect(cognito.commandCalls(AdminAddUserToGroupCommand).map((c) => c.args[0].input.GroupName)).toEqual(['viewer']);
  });

  it('stops at any other Cognito error without adding a group', async () => {
    // Prepare
    cognito.on(AdminCreateUserCommand).rejects(new Error('AccessDenied'));

    // Act / Assess
    await expect(createPortalUser(new CognitoIdentityProviderClient({}), pool, { email: 'ops@example.com', role: 'operator' })).rejects.toThrow('AccessDenied');
    expect(cognito.commandCalls(AdminAddUserToGroupCommand)).toHaveLength(0);
  });

  it('finds the user pool id among the stack outputs, and says so when the stack has none', async () => {
    // Prepare
    cloudformation.on(DescribeStacksCommand, { StackName: 'Quantify' }).resolves({
      Stacks: [
        {
          StackName: 'Quantify',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'ApiUserPoolClientId1A2B3C4D', OutputValue: 'client' },
            { OutputKey: 'ApiUserPoolId5E6F7A8B', OutputValue: pool },
          ],
        },
      ],
    });
    cloudformation.on(DescribeStacksCommand, { StackName: 'Empty' }).resolves({ Stacks: [{ StackName: 'Empty', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [] }] });

    // Act / Assess
    await expect(userPoolIdFromStack(new CloudFormationClient({}), 'Quantify')).resolves.toBe(pool);
    await expect(userPoolIdFromStack(new CloudFormationClient({}), 'Empty')).rejects.toThrow(/no UserPoolId output/);
  });

  it('reads the command line and refuses a bad e-mail, a role nobody signs in with, or a malformed pool id', () => {
    expect(parseCreateUserArgs(['--email', 'ops@example.com', '--role', 'operator'])).toEqual({ email: 'ops@example.com', role: 'operator', stack: 'Quantify' });
    expect(parseCreateUserArgs(['--email', 'a@b.co', '--role', 'viewer', '--user-pool-id', pool, '--stack', 'Q2'])).toEqual({
      email: 'a@b.co',
      role: 'viewer',
      userPoolId: pool,
      stack: 'Q2',
    });
    expect(() => parseCreateUserArgs(['--email', 'nope', '--role', 'admin'])).toThrow(/--email/);
    expect(() => parseCreateUserArgs(['--email', 'a@b.co', '--role', 'collector'])).toThrow(/--role/);
    expect(() => parseCreateUserArgs(['--email', 'a@b.co'])).toThrow(/--role/);
    expect(() => parseCreateUserArgs(['--email', 'a@b.co', '--role', 'admin', '--user-pool-id', 'x y'])).toThrow(/--user-pool-id/);
  });
});
