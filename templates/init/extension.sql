create extension if not exists dblink schema {{ schema }};
