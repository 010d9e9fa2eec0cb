// The AWS SDK for JavaScript v3 and the dotenv package as consumers of
// stsrotator, driven by the Go tests in cmd/stsrotator/internal/cli
// (js_test.go). One JSON object on stdout per run; exit 1 on failure.
//
//   node consumer.mjs process PROFILE   fromProcess: the profile's credential_process
//   node consumer.mjs http              fromHttp: AWS_CONTAINER_CREDENTIALS_FULL_URI + token or token file
//   node consumer.mjs container         fromContainerMetadata: the same URI + token
//   node consumer.mjs chain             fromNodeProviderChain: the default chain
//   node consumer.mjs imds              fromInstanceMetadata: AWS_EC2_METADATA_SERVICE_ENDPOINT (IMDSv2)
//   node consumer.mjs dotenv FILE...    dotenv.parse of each file (default and fast parser), as an array
import { readFileSync } from "node:fs";
import {
  fromContainerMetadata,
  fromHttp,
  fromInstanceMetadata,
  fromNodeProviderChain,
  fromProcess,
} from "@aws-sdk/credential-providers";
import dotenv from "dotenv";

const [mode, ...args] = process.argv.slice(2);

async function main() {
  let provider;
  switch (mode) {
    case "process":
      provider = fromProcess({ profile: args[0] });
      break;
    case "http":
      provider = fromHttp({ maxRetries: 0 });
      break;
    case "container":
      provider = fromContainerMetadata({ maxRetries: 0 });
      break;
    case "imds":
      provider = fromInstanceMetadata({ maxRetries: 0 });
      break;
    case "chain":
      provider = fromNodeProviderChain();
      break;
    case "dotenv":
      // Both of dotenv's parsers: the default (a regular expression) and
      // the fast one (a scanner), which must agree on what env wrote.
      return args.map((f) => {
        const src = readFileSync(f);
        return { default: dotenv.parse(src), fast: dotenv.parse(src, { fast: true }) };
      });
    default:
      throw new Error(`unknown mode ${mode}`);
  }
  const c = await provider();
  return {
    accessKeyId: c.accessKeyId,
    sessionToken: c.sessionToken,
    expiration: c.expiration?.toISOString(),
  };
}

main().then(
  (out) => process.stdout.write(JSON.stringify(out)),
  (e) => {
    process.stdout.write(JSON.stringify({ error: String(e?.message ?? e), Code: e?.Code, Message: e?.Message }));
    process.exitCode = 1;
  },
);
