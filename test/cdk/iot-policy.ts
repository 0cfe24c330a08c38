// A small evaluator of synthesized IoT Core policies, as IoT Core evaluates them for an MQTT connection
// (AWS IoT Core developer guide: "Thing policy variables", "AWS IoT Core policy actions", "Policy
// resources"): CloudFormation intrinsics resolved for one account and region; `${iot:Connection.Thing.*}`
// substituted from the thing named by the connection's client id (non-exclusive association: IoT Core takes
// the thing name from the client id) and unresolved, so the statement does not apply, when no such thing
// exists; resources matched with the policy wildcards `*` (any characters, `/` included) and `?`, where `+`
// and `#` are literal; Bool conditions on iot:Connection.Thing.IsAttached; an explicit Deny wins.
type Json = unknown;

export const ACCOUNT = '111122223333';
export const REGION = 'eu-west-1';
const pseudo: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT, 'AWS::URLSuffix': 'amazonaws.com' };

function resolve(value: Json): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const o = value as Record<string, Json>;
    if (typeof o.Ref === 'string' && pseudo[o.Ref]) return pseudo[o.Ref] ?? '';
    const join = o['Fn::Join'];
    if (Array.isArray(join)) return (join[1] as Json[]).map(resolve).join(String(join[0]));
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

interface Statement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: Json;
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface Connection {
  clientId: string;
  /** The things in the registry, each with the certificates attached to it. */
  things: Record<string, string[]>;
  /** The certificate the device presented. */
  certificate: string;
}

export type IotAction = 'iot:Connect' | 'iot:Publish' | 'iot:RetainPublish' | 'iot:Subscribe' | 'iot:Receive';

/** The resource ARN an action is checked against: the client id for Connect, else the topic or topic filter. */
export function resourceArn(action: IotAction, name: string): string {
  const kind = action === 'iot:Connect' ? 'client' : action === 'iot:Subscribe' ? 'topicfilter' : 'topic';
  return `arn:aws:iot:${REGION}:${ACCOUNT}:${kind}/${name}`;
}

const globToRegExp = (glob: string) => new RegExp(`^${glob.replace(/[.+^${}()|[\]\\#]/g, '\\$&').replace(/\*/g, '[\\s\\S]*').replace(/\?/g, '[\\s\\S]')}$`);

function variables(c: Connection): Record<string, string> | undefined {
  const attached = c.things[c.clientId];
  if (!attached) return undefined; // no thing of that name: thing variables do not resolve
  return { 'iot:Connection.Thing.ThingName': c.clientId, 'iot:Connection.Thing.IsAttached': String(attached.includes(c.certificate)) };
}

/** Substitute `${…}` variables; undefined when one does not resolve. */
function substitute(text: string, vars: Record<string, string> | undefined): string | undefined {
  let unresolved = false;
  const out = text.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
    const v = vars?.[name];
    if (v === undefined) unresolved = true;
    return v ?? '';
  });
  return unresolved ? undefined : out;
}

function applies(s: Statement, action: IotAction, arn: string, vars: Record<string, string> | undefined): boolean {
  if (![s.Action].flat().includes(action)) return false;
  const resources = [s.Resource].flat().map(resolve).map((r) => substitute(r, vars));
  if (!resources.some((r) => r !== undefined && globToRegExp(r).test(arn))) return false;
  for (const [operator, entries] of Object.entries(s.Condition ?? {})) {
    if (operator !== 'Bool') throw new Error(`condition operator ${operator} is not modelled`);
    for (const [key, expected] of Object.entries(entries)) {
      const actual = vars?.[key];
      if (actual === undefined || ![expected].flat().includes(actual)) return false;
    }
  }
  return true;
}

/** Is `action` on `name` (client id, topic or topic filter) allowed for this connection by this policy document? */
export function allowed(policyDocument: Json, c: Connection, action: IotAction, name: string): boolean {
  const statements = (policyDocument as { Statement: Statement[] }).Statement;
  const vars = variables(c);
  const arn = resourceArn(action, name);
  const matching = statements.filter((s) => applies(s, action, arn, vars));
  return matching.some((s) => s.Effect === 'Allow') && !matching.some((s) => s.Effect === 'Deny');
}
