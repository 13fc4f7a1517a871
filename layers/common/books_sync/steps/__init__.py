"""The per-tenant steps themselves (customer sync, invoice sync, reminders), in the layer because
more than one entry point runs them: each step's own Lambda, the freshen, and `zoho-sync run`."""
