-- repsync catalog on node {{ node }}: what is replicated, to whom, and the queue.
create schema if not exists repsync;
revoke all on schema repsync from public;

create table if not exists repsync.local_node (
    singleton boolean primary key default true check (singleton),
    name text not null,
    created_dblink boolean not null,
    init_fingerprint text not null
);

create table if not exists repsync.peer (
    name text primary key,
    server_name name not null unique
);

create table if not exists repsync.replicated_table (
    set_name text primary key,
    local_schema name not null,
    local_table name not null,
    source text not null,
    is_sender boolean not null,
    is_receiver boolean not null,
    mode text not null check (mode in ('sync', 'async')),
    on_error text not null check (on_error in ('queue', 'fail')),
    options jsonb not null,
    objects jsonb not null default '{}'
);

create table if not exists repsync.route (
    set_name text not null references repsync.replicated_table on delete cascade,
    dest text not null references repsync.peer,
    primary key (set_name, dest)
);

-- Changes of the running transaction, until its commit ships them. Unlogged: a row
-- never outlives its transaction, so a crash has nothing here worth keeping.
create unlogged table if not exists repsync.pending (
    id bigserial primary key,
    xid xid8 not null default pg_current_xact_id(),
    set_name text not null,
    op "char" not null,
    old_rows json,
    new_rows json
);
create index if not exists pending_xid on repsync.pending (xid);

-- Changes a peer has not received yet, oldest first per destination. Entries are
-- found by destination and id: the one index is what every writer pays for in
-- its capture (an index on id alone cost 2% more of a single-row mix). Only an
-- operator's discard of an entry by id scans the queue.
create table if not exists repsync.sync_err_rec (
    id bigserial,
    dest text not null,
    set_name text not null,
    op "char" not null,
    old_rows json,
    new_rows json,
    origin_xid xid8 not null,
    queued_at timestamptz not null default clock_timestamp(),
    last_error text,
    last_attempt timestamptz,
    primary key (dest, id)
);
-- Queues made by earlier versions had a primary key on id and an index on
-- (dest, id). Only once: the alter locks the queue against writers.
do {{ tag }}
begin
    if exists (select from pg_catalog.pg_index i
                where i.indexrelid = 'repsync.sync_err_rec_pkey'::regclass and i.indnatts = 1) then
        alter table repsync.sync_err_rec drop constraint sync_err_rec_pkey,
                                         add primary key (dest, id);
    end if;
end
{{ tag }};
drop index if exists repsync.sync_err_rec_dest;

-- A statement's keys or rows can be megabytes of JSON, compressed in the writer's
-- transaction: lz4 takes a quarter less of a 100k-row insert's capture than pglz
-- (bench/capture_cost.sh's method). Servers built without lz4 keep pglz.
-- Only once: the alter locks the queue against writers.
do {{ tag }}
begin
    if exists (select from pg_catalog.pg_attribute a
                where a.attrelid = 'repsync.sync_err_rec'::regclass and a.attname = 'old_rows'
                  and a.attcompression <> 'l') then
        alter table repsync.sync_err_rec alter column old_rows set compression lz4,
                                         alter column new_rows set compression lz4;
        alter table repsync.pending alter column old_rows set compression lz4,
                                    alter column new_rows set compression lz4;
    end if;
exception when feature_not_supported then
    null;
end
{{ tag }};

-- On a receiving node: per origin, what the last batch shipped here covered: the
-- entries up to last_id that were committed in last_snapshot. Queue ids are handed
-- out at insert but become visible at commit, so an id alone would also cover an
-- entry of a transaction that committed after the batch was read.
create table if not exists repsync.applied (
    origin text primary key,
    last_id bigint not null,
    last_snapshot pg_snapshot
);
alter table repsync.applied add column if not exists last_snapshot pg_snapshot;

-- Conflicts found while applying a peer's change to a table that more than one node
-- writes: both versions, and which one the table's policy kept. Written on the node
-- that applied the change.
create table if not exists repsync.conflict (
    id bigserial primary key,
    detected_at timestamptz not null default clock_timestamp(),
    set_name text not null,
    key json not null,
    local_origin text,
    local_at timestamptz,
    local_row json,
    remote_origin text not null,
    remote_at timestamptz not null,
    remote_row json,
    policy text not null,
    winner text not null check (winner in ('local', 'remote'))
);
create index if not exists conflict_set on repsync.conflict (set_name, id);

revoke all on all tables in schema repsync from public;
{%- if let Some(role) = peer_role %}
-- The peers connect as this role and call the apply procedures in this schema.
grant usage on schema repsync to {{ role }};
grant select, insert, update on repsync.applied to {{ role }};
grant insert on repsync.conflict to {{ role }};
grant usage on sequence repsync.conflict_id_seq to {{ role }};
{%- endif %}
