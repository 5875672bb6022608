#!/usr/bin/env bash
# Draws docs/db/schema.sql as an entity-relationship diagram: writes docs/db/erd.dot and renders docs/db/erd.png.
# Reads the schema from a scratch SQLite database made from schema.sql, so the picture cannot drift from it.
# Needs sqlite3 and graphviz (Debian packages sqlite3, graphviz). Run from anywhere; commit both outputs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=$(mktemp)
trap 'rm -f "$db"' EXIT
sqlite3 -bail "$db" < "$here/schema.sql"

# One node per table: its name, then a row per column (primary key columns underlined, nullable ones marked).
tables_sql=$(cat <<'SQL'
SELECT '  ' || m.name || ' [label=<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">'
    || '<tr><td bgcolor="#cfe0f3" colspan="2"><b>' || m.name || '</b></td></tr>'
    || (SELECT group_concat('<tr><td align="left" port="' || p.name || '">'
                            || CASE WHEN p.pk > 0 THEN '<u>' || p.name || '</u>' ELSE p.name END
                            || '</td><td align="left" port="' || p.name || '_type">'
                            || '<font color="#555555">' || lower(p.type)
                            || CASE WHEN p."notnull" OR p.pk > 0 THEN '' ELSE ' null' END
                            || '</font></td></tr>', '')
        FROM pragma_table_info(m.name) AS p)
    || '</table>>];'
FROM sqlite_schema AS m WHERE m.type = 'table' ORDER BY m.name;
SQL
)
# One edge per foreign key, from the referencing column to the referenced one (its type cell: the outer edge).
references_sql=$(cat <<'SQL'
SELECT '  ' || m.name || ':' || k."from" || ':w -> ' || k."table" || ':' || k."to" || '_type:e;'
FROM sqlite_schema AS m, pragma_foreign_key_list(m.name) AS k
WHERE m.type = 'table' AND k.seq = 0 ORDER BY m.name, k.id;
SQL
)

{
    echo 'digraph hydra_schema {'
    echo '  graph [rankdir=RL, fontname="Helvetica", fontsize=12, labelloc=t, nodesep=0.3, ranksep=0.9,'
    echo '         label="hydra database schema (docs/db/schema.sql): arrows point to the row referenced\n"];'
    echo '  node [shape=plaintext, fontname="Helvetica", fontsize=10];'
    echo '  edge [color="#4a6f9c", arrowsize=0.7];'
    sqlite3 -bail "$db" "$tables_sql"
    sqlite3 -bail "$db" "$references_sql"
    echo '}'
} > "$here/erd.dot"
dot -Tpng -Gdpi=96 "$here/erd.dot" -o "$here/erd.png"
echo "wrote $here/erd.dot and $here/erd.png"
