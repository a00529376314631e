/**
 * A table of items (`table.data`, styles.css): a header row of column headers, then a row per
 * item whose cells the columns render. Optionally a last column of each row's actions (its
 * header "Actions" visually hidden), what to show instead when there are no items, and a box
 * that scrolls sideways on a narrow screen.
 */
import type { HTMLAttributes, Key, ReactNode } from "react";

export interface Column<T> {
  /** The column's header text; it keys the column too, so it is unique in a table (or give `key`). */
  header: string;
  key?: Key;
  /** What the item's cell holds. */
  cell: (item: T) => ReactNode;
  /** The cell heads its row: `<th scope="row">` rather than `<td>`. */
  rowHeader?: boolean;
  /** A class of the column's header and cells (`num`). */
  className?: string;
  /** A class of one item's cell, in place of `className`. */
  cellClassName?: (item: T) => string | undefined;
}

/** A row's own attributes: `data-*`, `aria-current`, a class. */
export type RowAttributes = HTMLAttributes<HTMLTableRowElement> & {
  [data: `data-${string}`]: string | undefined;
};

export interface DataTableProps<T> {
  /**
   * The table's accessible name: its `aria-label`, or with `caption` a visually hidden caption.
   * Without it the table has none of its own (a section's heading says what it is).
   */
  label?: string;
  caption?: boolean;
  /** Classes after `data`. */
  className?: string;
  items: readonly T[];
  rowKey: (item: T) => Key;
  columns: readonly Column<T>[];
  rowProps?: (item: T) => RowAttributes;
  /** A row's actions, in a last column (`td.row-actions`); without it there is no such column. */
  actions?: (item: T) => ReactNode;
  /** Shown in place of the table when there are no items; without it the table shows, empty. */
  empty?: ReactNode;
  /** In a `div.table-scroll`. */
  scroll?: boolean;
}

export function DataTable<T>(props: DataTableProps<T>) {
  const { label, caption, className, items, rowKey, columns, rowProps, actions, empty, scroll } = props;
  if (items.length === 0 && empty !== undefined) return <>{empty}</>;
  const table = (
    <table className={className ? `data ${className}` : "data"} aria-label={caption ? undefined : label}>
      {caption && <caption className="visually-hidden">{label}</caption>}
      <thead>
        <tr>
          {columns.map((c) => (
            <th key={c.key ?? c.header} scope="col" className={c.className}>
              {c.header}
            </th>
          ))}
          {actions && (
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          )}
        </tr>
      </thead>
      <tbody>
        {items.map((item) => (
          <tr key={rowKey(item)} {...rowProps?.(item)}>
            {columns.map((c) => {
              const cellClass = c.cellClassName ? c.cellClassName(item) : c.className;
              return c.rowHeader ? (
                <th key={c.key ?? c.header} scope="row" className={cellClass}>
                  {c.cell(item)}
                </th>
              ) : (
                <td key={c.key ?? c.header} className={cellClass}>
                  {c.cell(item)}
                </td>
              );
            })}
            {actions && <td className="row-actions">{actions(item)}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
  return scroll ? <div className="table-scroll">{table}</div> : table;
}
