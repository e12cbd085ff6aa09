"""The sandbox: a deterministic simulated SaaS company serving Salesforce-, Stripe- and NetSuite-shaped APIs."""
