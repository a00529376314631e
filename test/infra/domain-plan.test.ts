/**
 * Offline checks of the API's custom domain (infra/domain-plan.ts): what the deploying shell's
 * GYRE_DOMAIN, GYRE_CERTIFICATE_ARN and GYRE_DOMAIN_ZONE turn into for the HTTP API's `domain`.
 * infra/api.ts itself is type-checked by check:infra.
 */
import { describe, expect, it } from "vitest";
import { apiDomainPlan } from "../../infra/domain-plan.ts";

const CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/3a958790-8878-4cdc-a396-06d95064cf63";

describe("apiDomainPlan", () => {
  it("is nothing without GYRE_DOMAIN: the API keeps its execute-api URL", () => {
    expect(apiDomainPlan({}, "prod")).toBeUndefined();
    expect(() => apiDomainPlan({ GYRE_CERTIFICATE_ARN: CERT }, "prod")).toThrow(/need GYRE_DOMAIN/);
  });

  it("with a certificate: that certificate, and DNS left to the operator unless a zone is named", () => {
    expect(apiDomainPlan({ GYRE_DOMAIN: "CI.Example.com.", GYRE_CERTIFICATE_ARN: CERT }, "prod")).toEqual({
      name: "ci.example.com",
      cert: CERT,
      dns: false,
    });
    expect(
      apiDomainPlan(
        { GYRE_DOMAIN: "ci.example.com", GYRE_CERTIFICATE_ARN: CERT, GYRE_DOMAIN_ZONE: "Z2FDTNDATAQYW2" },
        "prod",
      ),
    ).toEqual({ name: "ci.example.com", cert: CERT, dns: { zone: "Z2FDTNDATAQYW2" } });
  });

  it("without one: SST requests and validates a certificate in Route 53; {stage} names a domain per stage", () => {
    expect(apiDomainPlan({ GYRE_DOMAIN: "{stage}.ci.example.com" }, "staging")).toEqual({
      name: "staging.ci.example.com",
      dns: {},
    });
  });

  it("refuses what API Gateway would refuse later, naming the variable", () => {
    expect(() => apiDomainPlan({ GYRE_DOMAIN: "https://ci.example.com" }, "prod")).toThrow(
      /GYRE_DOMAIN is not a domain name/,
    );
    expect(() =>
      apiDomainPlan({ GYRE_DOMAIN: "ci.example.com", GYRE_CERTIFICATE_ARN: "cert-1" }, "prod"),
    ).toThrow(/not an ACM certificate ARN/);
    expect(() =>
      apiDomainPlan(
        { GYRE_DOMAIN: "ci.example.com", GYRE_CERTIFICATE_ARN: CERT, AWS_REGION: "us-east-1" },
        "prod",
      ),
    ).toThrow(/is in eu-west-1 but the stage deploys to us-east-1/);
  });
});
