// Signs webhook requests with the vendors' own libraries, for hookrelay's
// tests: stdin is a JSON array of {vendor, secret, id, timestamp, body},
// stdout a JSON array of the header sets each vendor would send.
//
//   svix              svix's Webhook.sign: svix-id, svix-timestamp, svix-signature
//   svix-whitelabel   the same signature under the webhook-* names
//   standardwebhooks  standardwebhooks' Webhook.sign: webhook-*
//   github            @octokit/webhooks-methods' sign: X-Hub-Signature-256
//   slack             Slack's v0 scheme, checked with @slack/bolt's verifySlackRequest
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { Webhook as SvixWebhook } from "svix";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { sign as githubSign, verify as githubVerify } from "@octokit/webhooks-methods";
import bolt from "@slack/bolt";

const requests = JSON.parse(readFileSync(0, "utf8"));
const out = [];
for (const r of requests) {
  const when = new Date(r.timestamp * 1000);
  switch (r.vendor) {
    case "svix":
    case "svix-whitelabel": {
      const sig = new SvixWebhook(r.secret).sign(r.id, when, r.body);
      const p = r.vendor === "svix" ? "svix" : "webhook";
      out.push({ [`${p}-id`]: r.id, [`${p}-timestamp`]: String(r.timestamp), [`${p}-signature`]: sig });
      break;
    }
    case "standardwebhooks": {
      const sig = new StandardWebhook(r.secret).sign(r.id, when, r.body);
      out.push({ "webhook-id": r.id, "webhook-timestamp": String(r.timestamp), "webhook-signature": sig });
      break;
    }
    case "github": {
      const sig = await githubSign(r.secret, r.body);
      if (!(await githubVerify(r.secret, r.body, sig))) throw new Error("octokit does not verify its own signature");
      out.push({ "X-Hub-Signature-256": sig, "X-GitHub-Delivery": r.id, "X-GitHub-Event": r.event || "ping" });
      break;
    }
    case "slack": {
      const sig = "v0=" + createHmac("sha256", r.secret).update(`v0:${r.timestamp}:${r.body}`).digest("hex");
      const headers = { "x-slack-signature": sig, "x-slack-request-timestamp": r.timestamp };
      // Throws unless Slack's own verifier accepts the request.
      bolt.verifySlackRequest({ signingSecret: r.secret, body: r.body, headers, nowMilliseconds: r.timestamp * 1000 });
      out.push({ "X-Slack-Signature": sig, "X-Slack-Request-Timestamp": String(r.timestamp) });
      break;
    }
    default:
      throw new Error(`unknown vendor ${r.vendor}`);
  }
}
process.stdout.write(JSON.stringify(out));
