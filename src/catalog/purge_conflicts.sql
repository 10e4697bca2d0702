-- Deletes this node's logged conflicts of one table ($1, its name as given to
-- add-table) or of all ($1 null), except the newest $2 of them by id ($2 null:
-- none kept for being new) and those logged less than $3 seconds ago ($3 null:
-- none kept for their age). How many it deleted, and how many of the table's (or
-- all) remain.
with listed as (
    select c.id, c.detected_at
      from repsync.conflict c
      left join repsync.replicated_table t on t.set_name = c.set_name
     where $1::text is null or t.source = $1::text
), gone as (
    delete from repsync.conflict c
     where c.id in (select l.id from listed l order by l.id desc offset coalesce($2::int8, 0))
       and ($3::int8 is null or c.detected_at < now() - $3::int8 * interval '1 second')
    returning c.id
)
select (select count(*) from gone) as deleted,
       (select count(*) from listed) - (select count(*) from gone) as remaining
