select to_regprocedure('repsync.flush()') is not null
   and to_regprocedure('repsync.drain_errors(text, integer)') is not null
   and to_regprocedure('repsync.ship(text, text, boolean)') is not null
