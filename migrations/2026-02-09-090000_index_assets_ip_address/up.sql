-- Asset lookup by address and by subnet (`ip_address <<= '10.0.1.0/24'` can use
-- a btree on inet). CONCURRENTLY so a large assets table stays writable while the
-- index builds; that cannot run inside a transaction (see metadata.toml), and
-- this file must hold exactly this one statement because the whole file is sent
-- as one batch. If the build fails it leaves an INVALID index: drop it and rerun.
CREATE INDEX CONCURRENTLY assets_ip_address_idx ON assets (client_account_id, ip_address)
    WHERE ip_address IS NOT NULL;
