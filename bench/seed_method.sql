-- The 2012 method the project started from, as a performance anchor (adapted
-- from shared/bench/seed_baseline.sql): a per-row AFTER trigger sends every
-- change to the peer with its own dblink_exec, failures go to a local table.
-- The peer's connection string is the setting bench.peer of this database.
create table if not exists seed_err_rec (id bigserial primary key, query text, created timestamptz default clock_timestamp());

create or replace function seed_row_trigger() returns trigger language plpgsql as $body$
declare
    v_q text;
begin
    if current_setting('application_name') = 'seed_apply' then
        return null;
    end if;
    if TG_OP = 'INSERT' then
        v_q := format('insert into %I values (%L, %L, %L, %L, %L)', TG_TABLE_NAME,
                      new.pk1, new.pk2, new.info, new.crt_time, new.mod_time);
    elsif TG_OP = 'DELETE' then
        v_q := format('delete from %I where pk1 = %L and pk2 = %L', TG_TABLE_NAME, old.pk1, old.pk2);
    elsif TG_OP = 'UPDATE' then
        v_q := format('delete from %I where pk1 = %L and pk2 = %L; insert into %I values (%L, %L, %L, %L, %L)',
                      TG_TABLE_NAME, old.pk1, old.pk2,
                      TG_TABLE_NAME, new.pk1, new.pk2, new.info, new.crt_time, new.mod_time);
    end if;
    if not coalesce('seed' = any (dblink_get_connections()), false) then
        perform dblink_connect('seed', current_setting('bench.peer'));
    end if;
    begin
        perform dblink_exec('seed', v_q);
    exception when others then
        insert into seed_err_rec (query) values (v_q);
    end;
    return null;
end
$body$;

create or replace function seed_truncate_trigger() returns trigger language plpgsql as $body$
begin
    if current_setting('application_name') = 'seed_apply' then
        return null;
    end if;
    if not coalesce('seed' = any (dblink_get_connections()), false) then
        perform dblink_connect('seed', current_setting('bench.peer'));
    end if;
    perform dblink_exec('seed', format('truncate only %I', TG_TABLE_NAME));
    return null;
end
$body$;

create trigger seed_row after insert or update or delete on t_seed for each row execute function seed_row_trigger();
create trigger seed_truncate after truncate on t_seed for each statement execute function seed_truncate_trigger();
