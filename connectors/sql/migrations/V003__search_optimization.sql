-- requires: snowflake
-- Point lookups by id or pseudonym (support, GDPR subject requests by pseudonym): what the
-- original design's per-column indexes served. Search optimization is a real-Snowflake
-- (Enterprise) feature; the local emulator cannot parse it, so the migrate command skips
-- files marked `requires: snowflake` with --emulator and applies them on real Snowflake.
ALTER TABLE SOCIAL_POSTS ADD SEARCH OPTIMIZATION ON EQUALITY(NATIVE_ID, AUTHOR_PSEUDONYM, PARENT_EVENT_ID);
ALTER TABLE MARKET_ORDERS ADD SEARCH OPTIMIZATION ON EQUALITY(NATIVE_ID, ORDER_NUMBER, CUSTOMER_PSEUDONYM, EMAIL_PSEUDONYM, PHONE_PSEUDONYM);
ALTER TABLE PIPELINE_DEAD_LETTERS ADD SEARCH OPTIMIZATION ON EQUALITY(EVENT_ID, KAFKA_TOPIC);
