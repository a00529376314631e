/**
 * The builders' instance role, on its own so the API's Settings can name it (its ARN and the
 * unique id STS reports for its sessions) and infra/fleet.ts can grant it the job queues.
 */
import { builderTrustPolicy, fleetNames } from "./fleet-plan.ts";

export const builderRole = new aws.iam.Role("BuilderRole", {
  name: fleetNames($app.name, $app.stage).builderRole,
  assumeRolePolicy: JSON.stringify(builderTrustPolicy),
});
