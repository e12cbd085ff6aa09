"""The sandbox: a simulated SaaS company serving Salesforce-, Stripe- and NetSuite-shaped APIs."""
