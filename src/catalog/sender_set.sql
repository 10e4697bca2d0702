-- The set this node sends from table $1.$2, if add-table installed one: its name as
-- stored, whichever way the repsync that installed it derived the name.
select set_name
  from repsync.replicated_table
 where local_schema = $1::text and local_table = $2::text and is_sender
