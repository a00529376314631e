/**
 * Triggers: the project's scheduled pipelines (API v2 `/project/{slug}/schedule` and
 * `/schedule/{id}`), as CircleCI's project settings have them. Listed with when each fires in
 * words (UTC), its branch or tag and who its pipelines are attributed to; created with a form
 * (how often an hour, the hours, the days of the week or of the month, the months, the branch or
 * tag, extra pipeline parameters as key=value lines), edited in the same form (only what changed
 * is sent), deleted after asking. Writes take write permission on the project (the API's rule,
 * functions/src/http/schedules.ts), less than the admin the other sections need.
 */
import { useInfiniteQuery } from "@tanstack/react-query";
import { type FormEvent, useEffect, useId, useRef, useState } from "react";
import { api, query, slugPath } from "../../api.ts";
import { Failure } from "../../layout.tsx";
import { useMay } from "../../permission.ts";
import { DataTable } from "../../table.tsx";
import type { Page, Schedule } from "../../types.ts";
import { ConfirmDelete, ErrorText, ReadOnly, Section, useAction, useEdits, useProject } from "./common.tsx";
import {
  createBody,
  DAYS,
  describeTimetable,
  draftOf,
  hourLabel,
  MONTHS,
  newDraft,
  parameterLines,
  refOf,
  type ScheduleDraft,
  updateBody,
} from "./schedule-form.ts";

const schedulesKey = (slug: string) => ["schedules", slug];
const schedulePath = (id: string) => `/api/v2/schedule/${encodeURIComponent(id)}`;
const editButtonId = (id: string) => `schedule-edit-${id}`;

export function SchedulesSection({ slug, admin }: { slug: string; admin: boolean | undefined }) {
  const project = useProject(slug);
  // Known once the project has answered (as `admin` is); writes need write, not admin.
  const mayWrite = useMay(slug, "write");
  const known = admin !== undefined;
  const path = `/api/v2/project/${slugPath(slug)}/schedule`;
  const schedules = useInfiniteQuery({
    queryKey: schedulesKey(slug),
    queryFn: ({ pageParam }) => api.get<Page<Schedule>>(`${path}${query({ "page-token": pageParam })}`),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_page_token ?? undefined,
  });
  const { action, done, setDone, edit, change } = useEdits(schedulesKey(slug));
  const [editing, setEditing] = useState<string>();
  // The Edit button to give the focus back to once its form closes.
  const returnTo = useRef<string>(undefined);
  useEffect(() => {
    if (editing === undefined && returnTo.current) {
      document.getElementById(editButtonId(returnTo.current))?.focus();
      returnTo.current = undefined;
    }
  }, [editing]);
  const defaultBranch = project.data?.vcs_info.default_branch || "main";

  // The form runs these as its own action (the API's refusal shows in it).
  const create = (draft: ScheduleDraft) =>
    change(async () => {
      const built = createBody(draft);
      if ("error" in built) throw new Error(built.error);
      const made = await api.post<Schedule>(path, built.body);
      return `Created schedule ${made.name}.`;
    });
  const save = (schedule: Schedule) => async (draft: ScheduleDraft) => {
    await change(async () => {
      const built = updateBody(schedule, draft);
      if ("error" in built) throw new Error(built.error);
      if (Object.keys(built.body).length === 0) return `Nothing changed in ${schedule.name}.`;
      const saved = await api.patch<Schedule>(schedulePath(schedule.id), built.body);
      return `Saved schedule ${saved.name}.`;
    });
    closeEdit(schedule.id);
  };
  const closeEdit = (id: string) => {
    returnTo.current = id;
    setEditing(undefined);
  };
  const remove = (schedule: Schedule) =>
    edit(async () => {
      await api.delete(schedulePath(schedule.id));
      if (editing === schedule.id) setEditing(undefined);
      return `Deleted schedule ${schedule.name}.`;
    });

  const items = schedules.data?.pages.flatMap((p) => p.items) ?? [];
  const edited = items.find((s) => s.id === editing);
  return (
    <Section id="triggers" title="Triggers">
      <p className="hint">
        Scheduled pipelines: each runs the project's config on its branch or tag at the times set, in UTC,
        with <code>pipeline.trigger_source</code> <code>scheduled_pipeline</code>. A workflow's{" "}
        <code>triggers: schedule: cron</code> in the config runs as well, and is not listed here.
      </p>
      {schedules.isError && <Failure error={schedules.error} />}
      {schedules.isPending && <p aria-busy="true">Loading schedules…</p>}
      {schedules.data && (
        <DataTable
          label="Scheduled pipelines"
          scroll
          items={items}
          rowKey={(s) => s.id}
          rowProps={(s) => (s.id === editing ? { "aria-current": "true" } : {})}
          columns={[
            {
              header: "Name",
              rowHeader: true,
              cell: (s) => (
                <>
                  {s.name}
                  {s.description && <span className="hint schedule-description">{s.description}</span>}
                </>
              ),
            },
            { header: "Runs", cell: (s) => describeTimetable(s.timetable) },
            { header: "Branch or tag", cell: (s) => <code>{refOf(s.parameters)}</code> },
            {
              header: "Parameters",
              cell: (s) => {
                const lines = parameterLines(s.parameters);
                return lines ? <code className="schedule-parameters">{lines}</code> : null;
              },
            },
            {
              header: "Attributed to",
              cell: (s) => (s["attribution-actor"] === "system" ? "System" : "User"),
            },
            {
              header: "Actor",
              cell: (s) => (
                <span title={s.actor.login}>
                  {s.actor.name || s.actor.login}
                  {s.actor.name && s.actor.name !== s.actor.login && (
                    <span className="hint"> ({s.actor.login})</span>
                  )}
                </span>
              ),
            },
          ]}
          actions={
            mayWrite
              ? (s) => (
                  <span className="schedule-actions">
                    <button
                      type="button"
                      className="small"
                      id={editButtonId(s.id)}
                      disabled={editing === s.id}
                      onClick={() => {
                        setDone("");
                        setEditing(s.id);
                      }}
                    >
                      Edit<span className="visually-hidden"> {s.name}</span>
                    </button>
                    <ConfirmDelete what={s.name} onConfirm={() => remove(s)} disabled={action.busy} />
                  </span>
                )
              : undefined
          }
          empty={<p>No scheduled pipelines.</p>}
        />
      )}
      {schedules.hasNextPage && (
        <button
          type="button"
          onClick={() => void schedules.fetchNextPage()}
          disabled={schedules.isFetchingNextPage}
        >
          More schedules
        </button>
      )}
      <ErrorText error={action.error} />
      {known && !mayWrite && (
        <ReadOnly>Read only: creating and changing schedules needs write permission on the project.</ReadOnly>
      )}
      {mayWrite &&
        (edited ? (
          <ScheduleForm
            key={edited.id}
            label={`Edit schedule ${edited.name}`}
            initial={draftOf(edited)}
            submit="Save schedule"
            focus
            onSubmit={save(edited)}
            onCancel={() => closeEdit(edited.id)}
          />
        ) : (
          <ScheduleForm
            key="new"
            label="Create a schedule"
            initial={newDraft(defaultBranch)}
            submit="Create schedule"
            resetOnSuccess
            onSubmit={create}
          />
        ))}
      <p role="status" className="hint">
        {done}
      </p>
    </Section>
  );
}

const HOURS = Array.from({ length: 24 }, (_, h) => ({ key: h, name: hourLabel(h) }));
const MONTH_DAYS = Array.from({ length: 31 }, (_, d) => ({ key: d + 1, name: String(d + 1) }));

/**
 * The schedule's form, create and edit alike: what is typed stays when the API refuses it, and
 * the API's message shows under it.
 */
function ScheduleForm(props: {
  label: string;
  initial: ScheduleDraft;
  submit: string;
  onSubmit: (draft: ScheduleDraft) => Promise<void>;
  onCancel?: () => void;
  /** Reset to `initial` once saved (a create). */
  resetOnSuccess?: boolean;
  /** Take the focus when shown (an edit). */
  focus?: boolean;
}) {
  const { label, initial, submit, onSubmit, onCancel, resetOnSuccess, focus } = props;
  const [draft, setDraft] = useState(initial);
  const action = useAction();
  const id = useId();
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (focus) first.current?.focus();
  }, [focus]);
  const set = (change: Partial<ScheduleDraft>) => setDraft((d) => ({ ...d, ...change }));

  const send = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if ((await action.run(() => onSubmit(draft))) && resetOnSuccess) setDraft(initial);
  };

  return (
    <form className="stacked-form schedule-form" aria-label={label} onSubmit={send}>
      <h3>{label}</h3>
      <label>
        Name
        <input
          ref={first}
          required
          maxLength={255}
          autoComplete="off"
          value={draft.name}
          onChange={(e) => set({ name: e.target.value })}
        />
      </label>
      <label>
        <span>
          Description <span className="hint">(optional)</span>
        </span>
        <input
          maxLength={1024}
          autoComplete="off"
          value={draft.description}
          onChange={(e) => set({ description: e.target.value })}
        />
      </label>
      <label>
        Runs per hour
        <input
          type="number"
          className="per-hour"
          required
          min={1}
          max={60}
          step={1}
          value={draft.perHour}
          aria-describedby={`${id}-per-hour`}
          onChange={(e) => set({ perHour: e.target.value })}
        />
      </label>
      <p id={`${id}-per-hour`} className="hint">
        Spread evenly over each hour chosen: 4 runs an hour start at :00, :15, :30 and :45.
      </p>
      <Choices
        legend="Hours of the day (UTC)"
        all="every hour"
        options={HOURS}
        chosen={draft.hours}
        onChange={(hours) => set({ hours })}
        className="hours"
      />
      <fieldset className="choice-group">
        <legend>Days</legend>
        <div className="choices">
          <label>
            <input
              type="radio"
              name={`${id}-day-kind`}
              checked={draft.dayKind === "week"}
              onChange={() => set({ dayKind: "week" })}
            />
            Days of the week
          </label>
          <label>
            <input
              type="radio"
              name={`${id}-day-kind`}
              checked={draft.dayKind === "month"}
              onChange={() => set({ dayKind: "month" })}
            />
            Days of the month
          </label>
        </div>
        {draft.dayKind === "week" ? (
          <Choices
            legend="Days of the week"
            all="every day"
            options={DAYS}
            chosen={draft.daysOfWeek}
            onChange={(daysOfWeek) => set({ daysOfWeek })}
          />
        ) : (
          <Choices
            legend="Days of the month"
            all="every day"
            options={MONTH_DAYS}
            chosen={draft.daysOfMonth}
            onChange={(daysOfMonth) => set({ daysOfMonth })}
            className="month-days"
          />
        )}
      </fieldset>
      <Choices
        legend="Months"
        all="every month"
        options={MONTHS}
        chosen={draft.months}
        onChange={(months) => set({ months })}
        className="months"
      />
      <fieldset className="choice-group">
        <legend>Pipeline</legend>
        <div className="choices">
          <label>
            <input
              type="radio"
              name={`${id}-ref-kind`}
              checked={draft.refKind === "branch"}
              onChange={() => set({ refKind: "branch" })}
            />
            Branch
          </label>
          <label>
            <input
              type="radio"
              name={`${id}-ref-kind`}
              checked={draft.refKind === "tag"}
              onChange={() => set({ refKind: "tag" })}
            />
            Tag
          </label>
        </div>
        <label>
          Branch or tag
          <input
            required
            autoComplete="off"
            spellCheck={false}
            value={draft.ref}
            onChange={(e) => set({ ref: e.target.value })}
          />
        </label>
        <label>
          <span>
            Pipeline parameters <span className="hint">(optional)</span>
          </span>
          <textarea
            rows={3}
            spellCheck={false}
            placeholder={"deploy=true\nregion=eu-west-1"}
            value={draft.parameters}
            aria-describedby={`${id}-parameters`}
            onChange={(e) => set({ parameters: e.target.value })}
          />
        </label>
        <p id={`${id}-parameters`} className="hint">
          One <code>key=value</code> a line. <code>true</code>, <code>false</code> and whole numbers are sent
          as a boolean or a number; quote a value to send it as text (<code>version="2"</code>).
        </p>
      </fieldset>
      <fieldset className="choice-group">
        <legend>Attribute its pipelines to</legend>
        <div className="choices">
          <label>
            <input
              type="radio"
              name={`${id}-attribution`}
              checked={draft.attribution === "current"}
              onChange={() => set({ attribution: "current" })}
            />
            Me (the user saving it)
          </label>
          <label>
            <input
              type="radio"
              name={`${id}-attribution`}
              checked={draft.attribution === "system"}
              onChange={() => set({ attribution: "system" })}
            />
            The system (Scheduled pipelines)
          </label>
        </div>
      </fieldset>
      <ErrorText error={action.error} />
      <p className="actions">
        <button type="submit" className="primary" disabled={action.busy}>
          {submit}
        </button>
        {onCancel && (
          <button type="button" onClick={onCancel} disabled={action.busy}>
            Cancel
          </button>
        )}
      </p>
    </form>
  );
}

/** A group of checkboxes in a fieldset, with buttons that choose all or none of them. */
function Choices<T extends string | number>(props: {
  legend: string;
  /** What all of them are, in words ("every hour"), for the buttons' names. */
  all: string;
  options: readonly { key: T; name: string }[];
  chosen: readonly T[];
  onChange: (chosen: T[]) => void;
  className?: string;
}) {
  const { legend, all, options, chosen, onChange, className } = props;
  const toggle = (key: T, on: boolean) =>
    onChange(options.map((o) => o.key).filter((k) => (k === key ? on : chosen.includes(k))));
  return (
    <fieldset className="choice-group">
      <legend>{legend}</legend>
      <div className={className ? `choices ${className}` : "choices"}>
        {options.map((o) => (
          <label key={o.key}>
            <input
              type="checkbox"
              checked={chosen.includes(o.key)}
              onChange={(e) => toggle(o.key, e.target.checked)}
            />
            {o.name}
          </label>
        ))}
      </div>
      <p className="choice-buttons">
        <button type="button" className="small" onClick={() => onChange(options.map((o) => o.key))}>
          All<span className="visually-hidden"> {legend}</span>
        </button>
        <button type="button" className="small" onClick={() => onChange([])}>
          Clear<span className="visually-hidden"> {legend}</span>
        </button>
        <span className="hint">{chosen.length === options.length ? `(${all})` : ""}</span>
      </p>
    </fieldset>
  );
}
