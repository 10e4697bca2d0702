-- A staging table for rows copied from a peer: one per table and session, emptied at commit.
create temp table if not exists {{ stage }} on commit delete rows as
select {% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %} from only {{ table }} limit 0;
delete from {{ stage }}
