-- The sequence that fills key column $2 of table $1 (serial, identity or a
-- default that calls nextval on an owned sequence), and its increment.
select s.seq, (select p.seqincrement from pg_catalog.pg_sequence p where p.seqrelid = s.seq::regclass)
  from (select pg_catalog.pg_get_serial_sequence($1, $2) as seq) s
 where s.seq is not null
