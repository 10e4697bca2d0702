select pg_catalog.count(*) from {{ versions }} as v where v.repsync_deleted
