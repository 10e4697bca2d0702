-- The filter as a check constraint of a scratch copy of the table, in a transaction
-- that is rolled back: PostgreSQL takes one expression there, and records every
-- function and operator it calls as a dependency of the constraint.
create temp table {{ scratch }} (like {{ table }});
alter table pg_temp.{{ scratch }} add constraint {{ scratch }} check {{ filter }};
