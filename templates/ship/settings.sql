-- The shipper's transactions on both ends. Its COPY moves rows as text: fixed formats
-- on both ends, whatever the nodes' own settings.
set local datestyle = '{{ crate::formats::DATESTYLE }}';
set local intervalstyle = '{{ crate::formats::INTERVALSTYLE }}';
set local extra_float_digits = {{ crate::formats::EXTRA_FLOAT_DIGITS }};
set local bytea_output = '{{ crate::formats::BYTEA_OUTPUT }}';
set local timezone = '{{ crate::formats::TIMEZONE }}';
-- Row-level security never hides rows from the shipper: for a role it applies to,
-- reading or writing the table fails instead of leaving rows out.
set local row_security = off;
