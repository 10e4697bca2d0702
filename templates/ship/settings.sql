-- The shipper's transactions on both ends. Its COPY moves rows as text: fixed formats
-- on both ends, whatever the nodes' own settings.
set local datestyle = 'ISO, YMD';
set local intervalstyle = 'postgres';
set local extra_float_digits = 3;
set local bytea_output = 'hex';
set local timezone = 'UTC';
-- Row-level security never hides rows from the shipper: for a role it applies to,
-- reading or writing the table fails instead of leaving rows out.
set local row_security = off;
