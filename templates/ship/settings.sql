-- The shipper's COPY moves rows as text: fixed formats on both ends, whatever the nodes' own settings.
set local datestyle = 'ISO, YMD';
set local intervalstyle = 'postgres';
set local extra_float_digits = 3;
set local bytea_output = 'hex';
set local timezone = 'UTC';
