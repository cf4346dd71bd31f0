"""The web UI of agents, marketers and managers: server-rendered pages, HTMX for updates in
place. Each app serves the pages about what it owns (crm: customers and search; churnmodel:
at-risk list and model; sentiment: voice of the customer and label corrections;
interventions: the queue, rules and results); the customer page gathers sections the apps
above crm register here (`crm.web.sections`), so crm never imports them."""
