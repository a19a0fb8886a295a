"""Foreign keys around a cleanup rule's table: the graph, the decision, the chunk SQL (pure).

Deleting a parent row makes the server act on its children: ``ON DELETE CASCADE`` deletes
them (and, recursively, their own CASCADE children), ``SET NULL`` rewrites their reference,
``RESTRICT`` / ``NO ACTION`` refuse the delete (ERROR 1451). A cleanup that ignored this would
lose child rows without archiving them, or rewrite them silently. So, before the first write:

* :func:`foreign_keys_from_rows` turns catalog rows into :class:`ForeignKey` edges (the I/O
  side reads them table by table, following CASCADE edges);
* :func:`plan_foreign_keys` decides: every table the delete cascades to must be named in the
  rule's ``archive_children`` (copied in the same transaction as its parents) or
  ``allow_cascade_delete``; every SET NULL child must be allowed by ``allow_set_null``; a
  cascade cycle (a table whose rows cascade to rows of the same table) is always refused;
* :meth:`ForeignKeyPlan.condition` builds, for any table of the plan, the condition selecting
  the rows one parent chunk touches: ``(child columns) IN (SELECT parent columns FROM parent
  WHERE <parent's condition>)``, nested level by level down a CASCADE chain. Inside each
  subquery unqualified names resolve to that subquery's table first, so the rule's date
  predicate and ``where`` filter keep meaning the parent's columns.

Everything here is pure: rows in, decisions and ``(sql, args)`` out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.identifiers import qualified, quote_identifier

if TYPE_CHECKING:
    from maintenance_ops.core.config import CleanupRule

Table = tuple[str, str]  # (schema, table), unquoted
Predicate = tuple[str, list[Any]]

CASCADE = "CASCADE"
REWRITES = frozenset({"SET NULL", "SET DEFAULT"})
BLOCKS = frozenset({"RESTRICT", "NO ACTION"})


def table_name(table: Table) -> str:
    """Return ``schema.table`` for messages (unquoted, as a DBA reads it)."""
    return f"{table[0]}.{table[1]}"


@dataclass(frozen=True)
class ForeignKey:
    """One foreign key: ``child(child_columns)`` references ``parent(parent_columns)``."""

    constraint: str
    child: Table
    child_columns: tuple[str, ...]
    parent: Table
    parent_columns: tuple[str, ...]
    on_delete: str

    def describe(self) -> str:
        """Return e.g. ``constraint `fk_x` (ON DELETE CASCADE)`` for messages."""
        return f"constraint {quote_identifier(self.constraint)} (ON DELETE {self.on_delete})"


def hidden_referencing_keys(
    innodb_rows: Iterable[dict[str, Any]], tables: Iterable[Table], visible: Iterable[ForeignKey]
) -> list[str]:
    """Return the foreign keys on ``tables`` that InnoDB has and information_schema hid (pure).

    information_schema shows the account only tables it holds a privilege on, so a child in
    another schema is invisible there, while InnoDB's own catalog lists every key. Keys are
    counted per referenced table, so a name InnoDB encodes in a way we cannot decode never
    raises a false alarm: it can only go unmatched.

    :param innodb_rows: ``cleanup_innodb_foreign_keys`` rows (``id``, ``child``, ``parent``).
    :returns: one line per hidden key, e.g. ``fk_x on other.child references app.orders``.
    """
    from maintenance_ops.upkeep.index_analysis import decode_table_name

    def split(path: object) -> Table:
        schema, _, name = str(path).partition("/")
        return decode_table_name(schema), decode_table_name(name)

    shown: dict[Table, set[str]] = {}
    for key in visible:
        shown.setdefault(key.parent, set()).add(key.constraint)
    known: dict[Table, list[dict[str, Any]]] = {}
    for row in innodb_rows:
        known.setdefault(split(row["parent"]), []).append(row)
    hidden: list[str] = []
    for parent in sorted(set(tables)):
        rows = known.get(parent, [])
        names = shown.get(parent, set())
        if len(rows) <= len(names):
            continue
        where = f"{parent[0]}.{parent[1]}"
        unnamed = [r for r in rows if split(r["id"])[1] not in names]
        for row in unnamed[: len(rows) - len(names)]:
            child = split(row["child"])
            hidden.append(f"{split(row['id'])[1]} on {child[0]}.{child[1]} references {where}")
    return hidden


def foreign_keys_from_rows(rows: Iterable[dict[str, Any]]) -> list[ForeignKey]:
    """Group ``cleanup_foreign_keys`` rows (one per column) into foreign keys, columns in order."""
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        key = (str(row["child_schema"]), str(row["child_table"]), str(row["constraint_name"]))
        grouped.setdefault(key, []).append(row)
    keys: list[ForeignKey] = []
    for (schema, table, name), cols in sorted(grouped.items()):
        cols.sort(key=lambda r: int(r["position"]))
        first = cols[0]
        keys.append(
            ForeignKey(
                constraint=name,
                child=(schema, table),
                child_columns=tuple(str(c["child_column"]) for c in cols),
                parent=(str(first["parent_schema"]), str(first["parent_table"])),
                parent_columns=tuple(str(c["parent_column"]) for c in cols),
                on_delete=str(first["on_delete"]).upper(),
            )
        )
    return keys


@dataclass(frozen=True)
class ChildGroup:
    """The rows of one child table that one action touches, through one or more constraints."""

    table: Table
    action: str  # CASCADE, SET NULL, SET DEFAULT, RESTRICT, NO ACTION
    edges: tuple[ForeignKey, ...]
    handling: str  # archived, deleted, set null, set default, blocks

    @property
    def constraints(self) -> list[str]:
        return [e.constraint for e in self.edges]

    @property
    def tracked(self) -> bool:
        """Whether a chunk changes these rows (counted per chunk); blocking rows are not."""
        return self.action not in BLOCKS


@dataclass
class ForeignKeyPlan:
    """What deleting rows of ``root`` does to other tables, and whether the rule may do it.

    :param root: the rule's table.
    :param edges: every foreign key referencing the root or a table the root cascades to.
    :param cascade: tables losing rows with the root, each after every table it cascades from.
    :param archives: archived child -> its archive table.
    """

    root: Table
    edges: list[ForeignKey] = field(default_factory=list)
    cascade: list[Table] = field(default_factory=list)
    archives: dict[Table, Table] = field(default_factory=dict)
    refusal: str = ""
    warnings: list[str] = field(default_factory=list)
    cyclic: bool = False  # conditions cannot be built (they would nest forever)

    @property
    def affected(self) -> set[Table]:
        """Tables whose rows are deleted: the root and every table it cascades to."""
        return {self.root, *self.cascade}

    def groups(self) -> list[ChildGroup]:
        """Return the child rows a delete touches, per table and action, cascades first."""
        affected = self.affected
        groups = [
            ChildGroup(
                table,
                CASCADE,
                tuple(self._incoming(table, {CASCADE})),
                "archived" if table in self.archives else "deleted",
            )
            for table in self.cascade
        ]
        others: dict[tuple[Table, str], list[ForeignKey]] = {}
        for edge in self.edges:
            if edge.parent in affected and edge.on_delete != CASCADE:
                others.setdefault((edge.child, edge.on_delete), []).append(edge)
        for (table, action), edges in others.items():
            handling = "blocks" if action in BLOCKS else action.lower()
            groups.append(ChildGroup(table, action, tuple(edges), handling))
        return groups

    def _incoming(self, table: Table, actions: set[str]) -> list[ForeignKey]:
        affected = self.affected
        return [
            e
            for e in self.edges
            if e.child == table and e.on_delete in actions and e.parent in affected
        ]

    def condition(self, table: Table, root: Predicate) -> Predicate:
        """Return the condition selecting the rows of ``table`` that deleting ``root`` touches.

        :param root: the root's rows condition (a chunk's key range and the rule's predicate).
        """
        if table == self.root:
            return root
        return _any_of(self.edge_condition(e, root) for e in self._incoming(table, {CASCADE}))

    def edge_condition(self, edge: ForeignKey, root: Predicate) -> Predicate:
        """Return ``(child columns) IN (SELECT parent columns FROM parent WHERE ...)``."""
        parent_sql, args = self.condition(edge.parent, root)
        child = _tuple(edge.child_columns)
        parent = ", ".join(quote_identifier(c) for c in edge.parent_columns)
        sql = (
            f"{child} IN (SELECT {parent} FROM {qualified(*edge.parent)} "  # noqa: S608
            f"WHERE {parent_sql})"
        )
        return sql, list(args)

    def group_condition(self, group: ChildGroup, root: Predicate) -> Predicate:
        """Return the condition selecting the rows of one group (any of its constraints)."""
        if group.action == CASCADE:
            return self.condition(group.table, root)
        return _any_of(self.edge_condition(e, root) for e in group.edges)


def _tuple(columns: Sequence[str]) -> str:
    quoted = ", ".join(quote_identifier(c) for c in columns)
    return quoted if len(columns) == 1 else f"({quoted})"


def _any_of(parts: Iterable[Predicate]) -> Predicate:
    sqls: list[str] = []
    args: list[Any] = []
    for sql, part_args in parts:
        sqls.append(sql)
        args += part_args
    if not sqls:
        return "1 = 0", []
    return (sqls[0], args) if len(sqls) == 1 else ("(" + " OR ".join(sqls) + ")", args)


def build_group_count(
    plan: ForeignKeyPlan, group: ChildGroup | None, root: Predicate, *, lock: bool = False
) -> tuple[str, list[Any]]:
    """Return the count of a group's rows (None: the root's); ``lock`` adds FOR UPDATE.

    Locking the root's chunk and then each child's rows, parents first, before copying keeps
    the copy exact: no session can add a child row referencing a locked parent (the insert
    waits for the parent row's lock) nor move a locked child away.
    """
    table = plan.root if group is None else group.table
    cond, args = root if group is None else plan.group_condition(group, root)
    suffix = " FOR UPDATE" if lock else ""
    return f"SELECT COUNT(*) AS n FROM {qualified(*table)} WHERE {cond}{suffix}", args  # noqa: S608


def build_child_copy(
    plan: ForeignKeyPlan, table: Table, columns: Sequence[str], root: Predicate
) -> tuple[str, list[Any]]:
    """Return the INSERT ... SELECT copying a cascade child's rows of one chunk to its archive."""
    cols = ", ".join(quote_identifier(c) for c in columns)
    cond, args = plan.condition(table, root)
    archive = qualified(*plan.archives[table])
    sql = f"INSERT INTO {archive} ({cols}) SELECT {cols} FROM {qualified(*table)} WHERE {cond}"  # noqa: S608
    return sql, args


# --------------------------------------------------------------------------------------------
# The decision
# --------------------------------------------------------------------------------------------


def _named(entries: bool | Iterable[str], table: Table) -> bool:
    """Whether a rule's list (or ``true``) covers a child table (matched by table name)."""
    if isinstance(entries, bool):
        return entries
    return table[1] in entries


def cascade_order(root: Table, edges: Sequence[ForeignKey]) -> tuple[list[Table], list[str]]:
    """Return the tables ``root`` cascades to, parents first, and any cascade cycle found.

    A cycle (a self-referencing CASCADE key, or tables cascading into each other) means a
    delete removes rows of a table already being cleaned, whichever their age: refused.
    """
    children: dict[Table, list[ForeignKey]] = {}
    for edge in edges:
        if edge.on_delete == CASCADE:
            children.setdefault(edge.parent, []).append(edge)
    order: list[Table] = []
    cycles: list[str] = []
    state: dict[Table, str] = {}

    def visit(table: Table, via: list[ForeignKey]) -> None:
        state[table] = "open"
        for edge in children.get(table, []):
            if state.get(edge.child) == "open":
                path = [*via, edge]
                start = next(i for i, e in enumerate(path) if e.parent == edge.child)
                cycles.append(
                    " -> ".join(
                        f"{table_name(e.parent)} ({quote_identifier(e.constraint)})"
                        for e in path[start:]
                    )
                    + f" -> {table_name(edge.child)}"
                )
            elif edge.child not in state:
                visit(edge.child, [*via, edge])
        state[table] = "done"
        order.append(table)

    visit(root, [])
    order.reverse()  # reverse post-order: every table after all tables that cascade to it
    return [t for t in order if t != root], cycles


def plan_foreign_keys(
    rule: CleanupRule, root: Table, edges: Sequence[ForeignKey]
) -> ForeignKeyPlan:
    """Decide what a rule may do to the tables referencing its table; say why if refused.

    :param rule: the cleanup rule (its ``cleanup_type``, ``archive_children``,
        ``allow_cascade_delete``, ``allow_set_null`` and ``archive_schema``).
    :param root: the rule's table.
    :param edges: foreign keys referencing the root and every table it cascades to.
    """
    cascade, cycles = cascade_order(root, edges)
    plan = ForeignKeyPlan(root, list(edges), cascade)
    subject = f"rule {rule.name!r}: deleting rows of {table_name(root)}"
    if cycles:
        plan.cyclic = True
        plan.refusal = (
            f"{subject} would cascade back into rows being cleaned, whatever their age "
            f"({'; '.join(cycles)}); clean this table by hand, or make that constraint "
            "ON DELETE RESTRICT or SET NULL"
        )
        return plan
    archive = rule.cleanup_type == "archive"
    lost: list[str] = []
    lost_names: list[str] = []
    for table in cascade:
        if archive and _named(list(rule.archive_children), table):
            name = rule.archive_children.get(table[1]) or f"{table[1]}_archive"[:64]
            plan.archives[table] = (rule.archive_schema or table[0], name)
        elif not _named(rule.allow_cascade_delete, table):
            via = ", ".join(e.describe() for e in plan._incoming(table, {CASCADE}))
            lost.append(f"{table_name(table)} ({via})")
            lost_names.append(table[1])
    if lost:
        names = "[" + ", ".join(lost_names) + "]"
        fix = (
            f"name them to archive with it: archive_children: {names} (each copied to its own "
            "archive table in the same transaction as its parents), or accept their loss: "
            f"allow_cascade_delete: {names}"
            if archive
            else f"to delete them with their parents set allow_cascade_delete: {names}, or keep "
            f"a copy: cleanup_type: archive with archive_children: {names}"
        )
        plan.refusal = (
            f"{subject} would also delete rows of {'; '.join(lost)} without archiving them; " + fix
        )
        return plan
    rewritten = [
        g
        for g in plan.groups()
        if g.action in REWRITES and not _named(rule.allow_set_null, g.table)
    ]
    if rewritten:
        names = "[" + ", ".join(g.table[1] for g in rewritten) + "]"
        what = "; ".join(
            f"{table_name(g.table)} ({', '.join(e.describe() for e in g.edges)})" for g in rewritten
        )
        plan.refusal = (
            f"{subject} would rewrite the references of {what} to NULL; to accept that set "
            f"allow_set_null: {names}, or clean those children first"
        )
        return plan
    plan.warnings = _unused_names(rule, plan)
    return plan


def _unused_names(rule: CleanupRule, plan: ForeignKeyPlan) -> list[str]:
    """Warn about child tables a rule names that no foreign key of the plan reaches."""
    cascade = {t[1] for t in plan.cascade}
    rewritten = {g.table[1] for g in plan.groups() if g.action in REWRITES}
    warnings: list[str] = []
    for key, names, reached in (
        ("archive_children", list(rule.archive_children), cascade),
        ("allow_cascade_delete", rule.allow_cascade_delete, cascade),
        ("allow_set_null", rule.allow_set_null, rewritten),
    ):
        extra = [n for n in names if n not in reached] if isinstance(names, list) else []
        if extra:
            warnings.append(
                f"rule {rule.name!r}: {key} names {extra}, which no foreign key of "
                f"{table_name(plan.root)} reaches; remove them from the rule"
            )
    return warnings


def blocking_constraint(message: str, plan: ForeignKeyPlan) -> list[ForeignKey]:
    """Return the RESTRICT / NO ACTION keys an ERROR 1451 message names (else all of them)."""
    blockers = [e for e in plan.edges if e.on_delete in BLOCKS and e.parent in plan.affected]
    named = [e for e in blockers if f"CONSTRAINT {quote_identifier(e.constraint)}" in message]
    return named or blockers
