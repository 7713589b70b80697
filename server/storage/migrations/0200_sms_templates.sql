-- SMS through template providers (Alibaba Cloud, Tencent Cloud): each message keeps the named
-- values its template needs (JSON object of strings), and a failed attempt keeps the class of
-- its error for the admin page: retry (tried again later), give_up (this message cannot be
-- delivered), misconfigured (no message can be until the configuration is fixed) or unknown
-- (the provider may have sent it; never resent automatically).
ALTER TABLE sms_outbox ADD COLUMN params TEXT NOT NULL DEFAULT '{}';
ALTER TABLE sms_outbox ADD COLUMN error_class TEXT NOT NULL DEFAULT '';
