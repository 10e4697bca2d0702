-- Per key of a table that more than one node writes: the version of the last change{# No name in SQL comments: a newline in a quoted name would end the comment. #}
-- this node knows of (when it was captured, on which node, whether it removed the
-- row) and the version that change replaced on another node. Deleted keys stay as
-- tombstones, so an older change arriving later cannot bring a row back. Kept when
-- add-table runs again: it is what lets a node tell an old change from a new one.
create table if not exists repsync.{{ versions }} as
select {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %} from only {{ table }} limit 0;
alter table repsync.{{ versions }}
    add column if not exists repsync_at timestamptz not null,
    add column if not exists repsync_origin text not null,
    add column if not exists repsync_base_at timestamptz,
    add column if not exists repsync_base_origin text,
    add column if not exists repsync_deleted boolean not null,
    -- Under origin-priority: the best (lowest) priority in the version's history,
    -- its own node's or the one of the version it replaced. Otherwise the same
    -- for every version.
    add column if not exists repsync_rank integer not null default 2147483647;
create unique index if not exists {{ versions_key }} on repsync.{{ versions }} ({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %});
revoke all on repsync.{{ versions }} from public;
