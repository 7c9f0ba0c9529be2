// Evaluate a batch of IAM requests with @cloud-copilot/iam-simulate (test-only, AGPL: never shipped).
//
// stdin:  {"policies": {"<id>": <policy document>, ...},
//          "requests": [{"principal": "<arn>" | null (anonymous), "action": "s3:GetObject",
//                        "resource": "<arn>", "resourceAccount": "<12 digits>",
//                        "identityPolicies": ["<id>", ...], "resourcePolicy": "<id>" | null,
//                        "context": {"aws:SecureTransport": "true", ...},
//                        "blockPublicAccess": true | false}, ...]}
// stdout: {"decisions": [{"result": "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied",
//                         "blockedBy": [...], "ignoredContextKeys": [...]}
//                        | {"error": "<why the request could not be evaluated>"}, ...]}
// One decision per request, in order. Policies are sent once and named by id, since thousands of
// requests share a handful of them. Context keys are evaluated as given: nothing is derived.
//
// iam-simulate 0.1.173 evaluates a context key with a variable part only when the variable
// follows a '/' (aws:PrincipalTag/${TagKey}); KMS's kms:EncryptionContext:${EncryptionContextKey}
// has it after a ':' and would be ignored. Such keys travel as aws:PrincipalTag/<the key>, a
// global key of every action that no policy here uses, renamed in policies and requests alike,
// so their conditions are evaluated with the engine's own string operators.
import { anonymousPrincipal, runSimulation } from '@cloud-copilot/iam-simulate'

const CARRIED = /^kms:EncryptionContext:/i
const carried = (key) => (CARRIED.test(key) ? `aws:PrincipalTag/${key}` : key)
const renamed = (entries) => Object.fromEntries(entries.map(([key, value]) => [carried(key), value]))

const withCarriedKeys = (policy) => ({
  ...policy,
  Statement: [policy.Statement].flat().map((statement) =>
    statement.Condition === undefined
      ? statement
      : {
          ...statement,
          Condition: Object.fromEntries(
            Object.entries(statement.Condition).map(([operator, tests]) => [
              operator,
              renamed(Object.entries(tests))
            ])
          )
        }
  )
})

const readStdin = async () => {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

const evaluate = async (policies, request) => {
  const policy = (id) => {
    if (!(id in policies)) throw new Error(`unknown policy id ${id}`)
    return withCarriedKeys(policies[id])
  }
  const response = await runSimulation(
    {
      request: {
        principal: request.principal ?? anonymousPrincipal,
        action: request.action,
        resource: { resource: request.resource, accountId: request.resourceAccount },
        contextVariables: renamed(Object.entries(request.context))
      },
      identityPolicies: request.identityPolicies.map((id) => ({ name: id, policy: policy(id) })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: request.resourcePolicy === null ? undefined : policy(request.resourcePolicy),
      additionalSettings: { s3: { blockPublicAccess: request.blockPublicAccess } }
    },
    { simulationMode: 'Strict' }
  )
  if (response.resultType === 'error') return { error: JSON.stringify(response.errors) }
  if (response.resultType !== 'single') return { error: `expected one resource, got ${response.resultType}` }
  return {
    result: response.overallResult,
    blockedBy: response.result.analysis.blockedBy ?? [],
    ignoredContextKeys: response.result.ignoredContextKeys ?? []
  }
}

const { policies, requests } = JSON.parse(await readStdin())
const decisions = []
for (const request of requests) decisions.push(await evaluate(policies, request))
process.stdout.write(JSON.stringify({ decisions }))
