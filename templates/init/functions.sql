-- repsync functions on node {{ node }}: ship at pre-commit, queue on failure, drain.

-- The statement that applies one captured change on a peer; p_versions (each key's
-- version) only for a table that more than one node writes.
drop function if exists repsync.apply_call(text, "char", json, json);
create or replace function repsync.apply_call(p_set_name text, p_op "char", p_old json, p_new json, p_versions json default null)
returns text language sql immutable parallel safe
set search_path = pg_catalog, pg_temp
as {{ tag }}
    select case when p_versions is null
           then format('call repsync.%I(%L, %L::json, %L::json);', 'apply_' || p_set_name, p_op, p_old, p_new)
           else format('call repsync.%I(%L, %L::json, %L::json, %L::json);', 'apply_' || p_set_name, p_op, p_old, p_new, p_versions)
           end
{{ tag }};

-- Runs p_sql on a peer in one remote transaction (a multi-statement query string is
-- one implicit transaction; with p_keep_open an explicit one, left open for the
-- caller to commit). The connection is kept for the session. Returns null, or the
-- error the peer caused: it could not be reached, or it refused the statements.
-- Errors of this node (a cancel, a missing dblink, a bug in repsync) are raised:
-- dblink_exec with fail = false reports the peer's errors as its result and raises
-- only its own. One more try on a new connection only when the kept one is dead
-- (the peer restarted), never after a refusal, which would only be refused again.
drop function if exists repsync.ship(text, text);
create or replace function repsync.ship(p_dest text, p_sql text, p_keep_open boolean default false)
returns text language plpgsql
-- dblink_exec(fail => false) passes the peer's error on as a NOTICE too.
set client_min_messages = warning
set search_path = pg_catalog, pg_temp
as {{ tag }}
declare
    v_conn text := 'repsync_' || p_dest;
    v_cached boolean;
    v_error text;
begin
    v_cached := v_conn = any (coalesce({{ dblink_schema }}.dblink_get_connections(), '{}'));
    loop
        if not v_cached then
            begin
                perform {{ dblink_schema }}.dblink_connect(v_conn, v_conn);
            exception
                when sqlclient_unable_to_establish_sqlconnection then
                    return sqlerrm;
                when others then
                    -- This node's side of the connection is broken: no try can work.
                    raise exception 'repsync: cannot open the connection to node "%": %', p_dest, sqlerrm
                        using errcode = sqlstate,
                              hint = 'run "repsync init" to set up the foreign server ' || v_conn || ' and its user mapping again';
            end;
        end if;
        if {{ dblink_schema }}.dblink_exec(v_conn, case when p_keep_open then 'begin;' || E'\n' else '' end || p_sql, false) <> 'ERROR' then
            return null;
        end if;
        -- libpq's text of the peer's error without the severity word in front and
        -- without the context (repsync's own generated statement): the message and
        -- any detail and hint, as the peer's log would name them.
        v_error := rtrim(regexp_replace(regexp_replace({{ dblink_schema }}.dblink_error_message(v_conn),
                                                       '^[^:\n]*:  ', ''),
                                        '\nCONTEXT:  .*$', ''), E'\n');
        -- A live connection answers this (and leaves an explicit transaction the
        -- error aborted); a dead one fails it too. dblink_exec refuses statements
        -- that return rows, and repsync's sessions hold no prepared statements, so
        -- the probe is one that changes nothing.
        if {{ dblink_schema }}.dblink_exec(v_conn, case when p_keep_open then 'rollback' else 'deallocate all' end, false) <> 'ERROR' then
            return v_error;
        end if;
        perform {{ dblink_schema }}.dblink_disconnect(v_conn);
        if not v_cached then
            return v_error;
        end if;
        v_cached := false;
    end loop;
end
{{ tag }};

-- Moves a transaction's pending changes for one destination into the queue, in
-- capture order; p_error is why (null when they only queue behind a backlog).
-- It also raises the destination's queued-xid mark to this transaction's id: a
-- transaction reading an older snapshot (repeatable read, serializable) cannot see
-- these entries, and learns from the mark that it must queue behind them (see
-- flush). A sequence, because its value is seen at once by every snapshot; the
-- read and the raise are one step under a lock held only for that step.
create or replace function repsync.queue_pending(p_xid xid8, p_dest text, p_error text)
returns void language plpgsql
set search_path = pg_catalog, pg_temp
as {{ tag }}
declare
    v_mark regclass := to_regclass(format('repsync.%I', 'queued_xid_' || p_dest));
    v_last bigint;
begin
    insert into repsync.sync_err_rec (dest, set_name, op, old_rows, new_rows, origin_xid, last_error, last_attempt)
    select p_dest, q.set_name, q.op, q.old_rows, q.new_rows, q.xid, p_error,
           case when p_error is not null then clock_timestamp() end
      from repsync.pending q
      join repsync.route r on r.set_name = q.set_name and r.dest = p_dest
     where q.xid = p_xid
     order by q.id;
    if v_mark is not null then
        perform pg_advisory_lock(hashtext('repsync.queued_xid'), hashtext(p_dest));
        begin
            execute format('select last_value from %s', v_mark) into v_last;
            if v_last < p_xid::text::bigint then
                perform setval(v_mark, p_xid::text::bigint);
            end if;
        exception when others or query_canceled then
            perform pg_advisory_unlock(hashtext('repsync.queued_xid'), hashtext(p_dest));
            raise;
        end;
        perform pg_advisory_unlock(hashtext('repsync.queued_xid'), hashtext(p_dest));
    end if;
end
{{ tag }};

-- Whether a transaction that reads one snapshot throughout (repeatable read,
-- serializable) must queue its changes for p_dest: some transaction that queued
-- for it may be invisible to that snapshot (running when it was taken, or begun
-- since). Every such transaction's id is at least the snapshot's xmin, and the mark
-- holds the highest id that ever queued; a mark below xmin proves there is none.
-- Read committed needs no mark: its check reads a new snapshot, and a transaction
-- still running then touched no row this one touched (it would have waited).
create or replace function repsync.queued_since_snapshot(p_dest text)
returns boolean language plpgsql stable
set search_path = pg_catalog, pg_temp
as {{ tag }}
declare
    v_mark regclass := to_regclass(format('repsync.%I', 'queued_xid_' || p_dest));
    v_last bigint;
begin
    if v_mark is null then
        return false;
    end if;
    execute format('select last_value from %s', v_mark) into v_last;
    return v_last >= pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
end
{{ tag }};

-- Runs at pre-commit (deferred), for each row of pending. The first call of a
-- transaction only appends a marker row ('F'): the marker's own deferred event fires
-- after every deferred check queued before it (a deferred foreign key of a later
-- statement, say), so nothing is shipped while the transaction can still fail that
-- way. The marker's call ships one remote transaction per peer. When a failing peer
-- fails the local transaction (--on-error fail) and there are other peers, it ships
-- in two phases: each peer's changes in a remote transaction left open, then a
-- commit on each, so that no other peer keeps the change of a failed transaction.
create or replace function repsync.flush()
returns trigger language plpgsql security definer
set search_path = pg_catalog, pg_temp
as {{ tag }}
declare
    v_xid xid8 := pg_current_xact_id();
    v_dest record;
    v_sql text;
    v_open text[] := '{}';
    v_fail text[] := '{}';
    v_peer text;
    v_error text;
    v_status text;
    v_two_phase boolean;
    v_one_snapshot boolean;
begin
    if new.op <> 'F' then
        if not exists (select from repsync.pending q where q.xid = v_xid and q.op = 'F') then
            insert into repsync.pending (set_name, op) values ('', 'F');
        end if;
        return null;
    end if;
    v_one_snapshot := current_setting('transaction_isolation') <> 'read committed';
    select count(distinct r.dest) > 1 and bool_or(t.on_error = 'fail')
      into v_two_phase
      from repsync.pending q
      join repsync.route r on r.set_name = q.set_name
      join repsync.replicated_table t on t.set_name = q.set_name
     where q.xid = v_xid;
    begin
        for v_dest in
            select r.dest, bool_or(t.on_error = 'fail') as must_fail
              from repsync.pending q
              join repsync.route r on r.set_name = q.set_name
              join repsync.replicated_table t on t.set_name = q.set_name
             where q.xid = v_xid
             group by r.dest
             order by r.dest
        loop
            -- The first entry by the (dest, id) index: an EXISTS may be planned as a
            -- scan through other destinations' entries and dead ones.
            if (select e.id from repsync.sync_err_rec e where e.dest = v_dest.dest order by e.dest, e.id limit 1) is not null
               or (v_one_snapshot and repsync.queued_since_snapshot(v_dest.dest)) then
                if v_dest.must_fail then
                    raise exception 'repsync: node "%" has queued changes that this transaction would overtake', v_dest.dest
                        using hint = 'run "repsync drain-errors --to ' || v_dest.dest || '" first';
                end if;
                perform repsync.queue_pending(v_xid, v_dest.dest, null);
                continue;
            end if;
            -- Deferrable constraints are checked at the remote commit, as they were
            -- at the local one: a row may come before the row it refers to.
            select 'set constraints all deferred;' || E'\n'
                   || string_agg(repsync.entry_call(q.set_name, q.op, q.old_rows, q.new_rows), E'\n' order by q.id)
              into v_sql
              from repsync.pending q
              join repsync.route r on r.set_name = q.set_name and r.dest = v_dest.dest
             where q.xid = v_xid;
            -- Only what the peer caused is queued; an error of this node fails the
            -- transaction, as any error in it would.
            v_error := repsync.ship(v_dest.dest, v_sql, v_two_phase);
            if v_error is null and v_two_phase then
                -- Phase 1 done: the changes wait in a remote transaction left open.
                v_open := v_open || v_dest.dest;
                if v_dest.must_fail then
                    v_fail := v_fail || v_dest.dest;
                end if;
            elsif v_error is not null then
                if v_dest.must_fail then
                    raise exception 'repsync: could not replicate to node "%": %', v_dest.dest, v_error
                        using hint = 'the table was added with --on-error fail; fix node "' || v_dest.dest
                            || '" or add the table again with --on-error queue';
                end if;
                perform repsync.queue_pending(v_xid, v_dest.dest, v_error);
            end if;
        end loop;
        -- Phase 2: commit on each peer; the ones that must not fail first, so a refused
        -- commit there still rolls back the others.
        for v_peer in
            select p from unnest(v_open) p order by not (p = any (v_fail)), p
        loop
            v_status := {{ dblink_schema }}.dblink_exec('repsync_' || v_peer, 'commit', false);
            v_open := array_remove(v_open, v_peer);
            if v_status <> 'COMMIT' then
                -- Refused at its commit (a deferred check there), or the peer is gone.
                v_error := coalesce(regexp_replace(nullif({{ dblink_schema }}.dblink_error_message('repsync_' || v_peer), 'OK'), '^[^:\n]*:  ', ''),
                                    'the remote transaction was rolled back');
                perform {{ dblink_schema }}.dblink_disconnect('repsync_' || v_peer);
                if v_peer = any (v_fail) then
                    raise exception 'repsync: node "%" refused the commit: %', v_peer, v_error
                        using hint = 'the table was added with --on-error fail; fix node "' || v_peer
                            || '" or add the table again with --on-error queue';
                end if;
                perform repsync.queue_pending(v_xid, v_peer, v_error);
            end if;
        end loop;
    exception when others or query_canceled then
        -- The local transaction fails: the peers still open must not keep its changes.
        foreach v_peer in array v_open loop
            begin
                perform {{ dblink_schema }}.dblink_exec('repsync_' || v_peer, 'rollback', false);
            exception when others then
                perform {{ dblink_schema }}.dblink_disconnect('repsync_' || v_peer);
            end;
        end loop;
        raise;
    end;
    delete from repsync.pending q where q.xid = v_xid;
    return null;
end
{{ tag }};

drop trigger if exists flush on repsync.pending;
create constraint trigger flush after insert on repsync.pending
    deferrable initially deferred for each row execute function repsync.flush();

-- The statement that applies one queued entry. An async entry ('K') holds only
-- keys: the rows are read now, as they are at ship time, and sent as an update
-- (keys gone from the table or out of the filter are deleted on the peer).
create or replace function repsync.entry_call(p_set_name text, p_op "char", p_old json, p_new json)
returns text language plpgsql stable
set search_path = pg_catalog, pg_temp
as {{ tag }}
declare
    v_part json;
    v_rows json;
    v_gone json;
    v_versions json;
    v_calls text[] := '{}';
begin
    if p_op = 'K' then
        -- At most 1000 keys per statement on the peer: a statement there holds the
        -- locks it took while it works through its keys, and a short one keeps
        -- the peer's own writers from waiting on it for long.
        for v_part in
            select json_agg(s.k)
              from (select k, (row_number() over () - 1) / 1000 as part from json_array_elements(p_old) k) s
             group by s.part
             order by s.part
        loop
            execute format('select rows, gone, versions from repsync.%I($1)', 'current_' || p_set_name)
                into v_rows, v_gone, v_versions using v_part;
            -- 'K': the gone keys and the rows are disjoint, which spares the peer
            -- comparing them (a peer that predates 'K' takes it as an update).
            v_calls := v_calls || repsync.apply_call(p_set_name, (case when v_versions is null then 'K' else 'U' end)::"char", v_gone, v_rows, v_versions);
        end loop;
        return array_to_string(v_calls, E'\n');
    end if;
    return repsync.apply_call(p_set_name, p_op, p_old, p_new);
end
{{ tag }};

-- The oldest p_limit entries for a destination, locked, and the statements that
-- apply them. Consecutive async entries of one table are merged into one
-- statement: under a stream of small transactions that is what lets the shipper
-- keep up.
create or replace function repsync.batch(p_dest text, p_limit integer, out ids bigint[], out sql text)
language plpgsql
set search_path = pg_catalog, pg_temp
as {{ tag }}
declare
    v_entry record;
    v_calls text[] := '{}';
    v_run_set text;
    v_run_keys json[] := '{}';
begin
    ids := '{}';
    for v_entry in
        select e.id, e.set_name, e.op, e.old_rows, e.new_rows
          from repsync.sync_err_rec e
         where e.dest = p_dest
         order by e.dest, e.id
         limit p_limit
           for update
    loop
        ids := ids || v_entry.id;
        if v_entry.op = 'K' and v_entry.set_name = v_run_set then
            v_run_keys := v_run_keys || v_entry.old_rows;
            continue;
        end if;
        if v_run_set is not null then
            v_calls := v_calls || repsync.entry_call(v_run_set, 'K', repsync.merge_keys(v_run_keys), null);
            v_run_set := null;
        end if;
        if v_entry.op = 'K' then
            v_run_set := v_entry.set_name;
            v_run_keys := array[v_entry.old_rows];
        else
            v_calls := v_calls || repsync.entry_call(v_entry.set_name, v_entry.op, v_entry.old_rows, v_entry.new_rows);
        end if;
    end loop;
    if v_run_set is not null then
        v_calls := v_calls || repsync.entry_call(v_run_set, 'K', repsync.merge_keys(v_run_keys), null);
    end if;
    if cardinality(ids) = 0 then
        ids := null;
    end if;
    sql := array_to_string(v_calls, E'\n');
end
{{ tag }};

-- The keys of several async entries as one array. Concatenated as text, without
-- parsing: each part is a JSON array that the capture trigger made. Keys may
-- repeat; current_<set> takes each once.
create or replace function repsync.merge_keys(p_parts json[])
returns json language sql immutable
set search_path = pg_catalog, pg_temp
as {{ tag }}
    select case when cardinality(p_parts) = 1 then p_parts[1]
           else ('[' || (select string_agg(substr(b, 2, length(b) - 2), ', ')
                           from (select btrim(p::text, E' \n\r\t') as b from unnest(p_parts) p) s
                          where b <> '[]') || ']')::json
           end
{{ tag }};

-- On a receiving node: what the last batch of each origin covered. A batch shipped
-- again after a crash between the remote commit and the local delete is recognised
-- by it and not applied a second time. Only the last batch can be in that state:
-- the next drain of the destination starts after the local delete committed.
drop procedure if exists repsync.mark_applied(text, bigint);
create or replace procedure repsync.mark_applied(p_origin text, p_last_id bigint, p_snapshot pg_snapshot)
language sql
set search_path = pg_catalog, pg_temp
as {{ tag }}
    insert into repsync.applied (origin, last_id, last_snapshot) values (p_origin, p_last_id, p_snapshot)
        on conflict (origin) do update set last_id = excluded.last_id, last_snapshot = excluded.last_snapshot;
{{ tag }};

drop function if exists repsync.applied_watermark(text);
create function repsync.applied_watermark(p_origin text, out last_id bigint, out last_snapshot text)
language sql stable
set search_path = pg_catalog, pg_temp
as {{ tag }}
    select coalesce(max(a.last_id), 0), max(a.last_snapshot::text) from repsync.applied a where a.origin = p_origin
{{ tag }};

-- The watermark a peer holds for this node.
drop function if exists repsync.peer_watermark(text);
create function repsync.peer_watermark(p_dest text, out last_id bigint, out last_snapshot pg_snapshot)
language plpgsql
set search_path = pg_catalog, pg_temp
as {{ tag }}
declare
    v_conn text := 'repsync_' || p_dest;
    v_query text := format('select * from repsync.applied_watermark(%L)', (select name from repsync.local_node));
begin
    if not (v_conn = any (coalesce({{ dblink_schema }}.dblink_get_connections(), '{}'))) then
        perform {{ dblink_schema }}.dblink_connect(v_conn, v_conn);
    end if;
    begin
        select w, s::pg_snapshot into last_id, last_snapshot
          from {{ dblink_schema }}.dblink(v_conn, v_query) as t(w bigint, s text);
    exception when others then
        -- A kept connection dies when the peer restarts: one more try on a new one.
        perform {{ dblink_schema }}.dblink_disconnect(v_conn);
        perform {{ dblink_schema }}.dblink_connect(v_conn, v_conn);
        select w, s::pg_snapshot into last_id, last_snapshot
          from {{ dblink_schema }}.dblink(v_conn, v_query) as t(w bigint, s text);
    end;
end
{{ tag }};

-- Before a batch to p_dest: deletes the entries the peer's watermark covers (they
-- were applied, and a crash hid that). Stops when the watermark is beyond this
-- node's queue. `drain_errors` and the shipper's own transport both call it.
create or replace function repsync.forget_applied(p_dest text, p_last_id bigint, p_snapshot pg_snapshot)
returns void language plpgsql
set search_path = pg_catalog, pg_temp
as {{ tag }}
declare
    v_origin text := (select name from repsync.local_node);
    v_reached bigint := (select s.last_value from repsync.sync_err_rec_id_seq s);
begin
    -- A watermark beyond this node's own queue means this database is not the one
    -- the peer got those changes from (restored from a backup, re-created):
    -- deleting "applied" entries would lose changes.
    if p_last_id > v_reached then
        raise exception '%', format(
            'node "%s" has applied changes up to queue entry %s of node "%s", but this node''s queue has only reached %s; '
            'if this database was restored or re-created, compare the nodes, then on node "%s" run: delete from repsync.applied where origin = %L',
            p_dest, p_last_id, v_origin, v_reached, p_dest, v_origin);
    end if;
    -- Without a snapshot (a watermark written by an older repsync) nothing is
    -- taken as applied: shipping the last batch again is harmless.
    delete from repsync.sync_err_rec e
     where e.dest = p_dest and e.id <= p_last_id
       and pg_visible_in_snapshot(e.origin_xid, p_snapshot);
end
{{ tag }};

-- Replays the queue: per destination the oldest p_limit entries in one remote
-- transaction, which also moves the peer's watermark for this node; local entries
-- go only once the remote commit returned, and entries the peer's watermark
-- covers were applied already and just go. When the batch fails, the entries
-- are tried one by one so the ones before the failing entry land and the failing
-- one is shown with its error.
drop function if exists repsync.drain_errors(text, integer);
create function repsync.drain_errors(p_dest text default null, p_limit integer default 1000)
returns table (dest text, applied integer, remaining bigint, failed_id bigint, error text,
               bytes bigint, oldest_seconds double precision, busy boolean)
language plpgsql
set search_path = pg_catalog, pg_temp
as {{ tag }}
#variable_conflict use_column
declare
    v_origin text := (select name from repsync.local_node);
    v_dest text;
    v_ids bigint[];
    v_sql text;
    v_entry record;
    v_watermark record;
    v_snapshot pg_snapshot;
    v_error text;
begin
    if p_limit is null or p_limit < 1 then
        raise exception 'repsync.drain_errors: p_limit must be at least 1, not %', p_limit;
    end if;
    for v_dest in
        select p.name from repsync.peer p
         where (p_dest is null or p.name = p_dest)
           and (select e.id from repsync.sync_err_rec e where e.dest = p.name order by e.dest, e.id limit 1) is not null
         order by 1
    loop
        dest := v_dest;
        applied := 0;
        failed_id := null;
        error := null;
        bytes := 0;
        busy := false;
        if not pg_try_advisory_xact_lock(hashtext('repsync.drain_errors'), hashtext(v_dest)) then
            busy := true;
            error := 'another drain of this destination is running; nothing done';
        else
            begin
                select * into v_watermark from repsync.peer_watermark(v_dest);
                perform repsync.forget_applied(v_dest, v_watermark.last_id, v_watermark.last_snapshot);
                -- Taken before the batch is read, so every entry it shows is in the batch.
                v_snapshot := pg_current_snapshot();
                select b.ids, b.sql into v_ids, v_sql from repsync.batch(v_dest, p_limit) b;
                if v_ids is not null then
                    -- Deferrable constraints are checked at the remote commit (see flush).
                    v_sql := 'set constraints all deferred;' || E'\n' || v_sql
                        || E'\n' || format('call repsync.mark_applied(%L, %s, %L);', v_origin, v_ids[cardinality(v_ids)], v_snapshot);
                    v_error := repsync.ship(v_dest, v_sql);
                    if v_error is not null then
                        raise exception '%', v_error;
                    end if;
                    delete from repsync.sync_err_rec e where e.dest = v_dest and e.id = any (v_ids);
                    applied := cardinality(v_ids);
                    bytes := octet_length(v_sql);
                end if;
            exception when others then
                error := sqlerrm;
                for v_entry in
                    select * from repsync.sync_err_rec e
                     where e.dest = v_dest and e.id = any (coalesce(v_ids, '{}')) order by e.dest, e.id
                loop
                    begin
                        v_sql := 'set constraints all deferred;' || E'\n'
                            || repsync.entry_call(v_entry.set_name, v_entry.op, v_entry.old_rows, v_entry.new_rows)
                            || E'\n' || format('call repsync.mark_applied(%L, %s, %L);', v_origin, v_entry.id, v_snapshot);
                        v_error := repsync.ship(v_dest, v_sql);
                        if v_error is not null then
                            raise exception '%', v_error;
                        end if;
                        delete from repsync.sync_err_rec e where e.dest = v_dest and e.id = v_entry.id;
                        applied := applied + 1;
                        bytes := bytes + octet_length(v_sql);
                    exception when others then
                        failed_id := v_entry.id;
                        error := sqlerrm;
                        update repsync.sync_err_rec e
                           set last_error = sqlerrm, last_attempt = clock_timestamp()
                         where e.dest = v_dest and e.id = v_entry.id;
                        exit;
                    end;
                end loop;
                if failed_id is null and applied > 0 then
                    error := null;
                end if;
            end;
        end if;
        select count(*), extract(epoch from clock_timestamp() - min(e.queued_at))
          into remaining, oldest_seconds
          from repsync.sync_err_rec e where e.dest = v_dest;
        return next;
    end loop;
end
{{ tag }};

-- Drops one queued change on purpose (the operator decided the peer must not get it).
create or replace function repsync.discard(p_id bigint)
returns boolean language sql
set search_path = pg_catalog, pg_temp
as {{ tag }}
    with gone as (delete from repsync.sync_err_rec where id = p_id returning 1)
    select exists (select from gone)
{{ tag }};

-- What add-table installed for a set on this node, with a fingerprint of each
-- object's definition, so status can tell missing and changed objects apart.
create or replace function repsync.installed_objects(p_set_name text)
returns table (object text, fingerprint text) language sql stable
set search_path = pg_catalog, pg_temp
as {{ tag }}
    select case p.prokind when 'p' then 'procedure ' else 'function ' end || p.oid::regprocedure::text, md5(pg_get_functiondef(p.oid))
      from pg_proc p
     where p.pronamespace = 'repsync'::regnamespace
       and p.proname in ('capture_' || p_set_name, 'apply_' || p_set_name, 'current_' || p_set_name)
    union all
    -- On the table and, when it is partitioned, on every partition below it.
    select 'trigger ' || quote_ident(tg.tgname) || ' on ' || tg.tgrelid::regclass::text, md5(pg_get_triggerdef(tg.oid))
      from pg_trigger tg
      join repsync.replicated_table t on t.set_name = p_set_name
      cross join lateral (select to_regclass(quote_ident(t.local_schema) || '.' || quote_ident(t.local_table)) as oid) r
     where (tg.tgrelid = r.oid or tg.tgrelid in (select pt.relid from pg_partition_tree(r.oid) pt))
       and tg.tgname like 'repsync\_capture\_%'
{{ tag }};

revoke all on function repsync.ship(text, text, boolean), repsync.flush(), repsync.drain_errors(text, integer),
    repsync.discard(bigint), repsync.peer_watermark(text), repsync.entry_call(text, "char", json, json),
    repsync.batch(text, integer), repsync.queue_pending(xid8, text, text), repsync.queued_since_snapshot(text),
    repsync.forget_applied(text, bigint, pg_snapshot) from public;
