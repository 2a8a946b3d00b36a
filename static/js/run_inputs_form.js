// A form for a flow's run inputs, generated from the Input node's JSON schema.
//
//   const form = inputsForm(schema, sample, { idPrefix: "rerun" });
//   container.append(form.element);
//   const { values, errors } = form.read();   // errors: [{ field, message }]
//
// Strings, numbers, integers, booleans and enums get their own controls; lists and objects a
// JSON box. The server checks the inputs against the schema again and reports every problem.

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key in node && key !== "list") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function kindOf(schema) {
  if (Array.isArray(schema.enum) && schema.enum.length) return "enum";
  let type = schema.type;
  if (Array.isArray(type)) type = type.find((t) => t !== "null") ?? "string";
  if (type === "string" || type === "integer" || type === "number" || type === "boolean") return type;
  if (type === "array" || type === "object") return "json";
  return schema.properties ? "json" : "string";
}

function control(id, key, schema, value, required) {
  const kind = kindOf(schema);
  if (kind === "enum") {
    const select = el("select", { id, class: "sb-input", name: key });
    if (!required) select.append(el("option", { value: "", text: "—" }));
    schema.enum.forEach((option, index) => {
      select.append(el("option", { value: String(index), text: String(option), selected: option === value }));
    });
    return { node: select, read: () => (select.value === "" ? undefined : schema.enum[Number(select.value)]) };
  }
  if (kind === "boolean") {
    const box = el("input", { id, type: "checkbox", name: key, checked: value === true });
    return { node: box, read: () => box.checked, inline: true };
  }
  if (kind === "integer" || kind === "number") {
    const input = el("input", {
      id,
      class: "sb-input",
      type: "number",
      name: key,
      step: kind === "integer" ? "1" : "any",
      min: schema.minimum,
      max: schema.maximum,
      value: value === undefined || value === null ? "" : String(value),
    });
    return {
      node: input,
      read: () => {
        if (input.value.trim() === "") return undefined;
        const n = Number(input.value);
        if (Number.isNaN(n)) throw new Error("must be a number");
        if (kind === "integer" && !Number.isInteger(n)) throw new Error("must be a whole number");
        return n;
      },
    };
  }
  if (kind === "json") {
    const area = el("textarea", {
      id,
      class: "sb-input sb-code",
      name: key,
      rows: 3,
      value: value === undefined ? "" : JSON.stringify(value, null, 2),
    });
    area.spellcheck = false;
    return {
      node: area,
      read: () => {
        if (area.value.trim() === "") return undefined;
        try {
          return JSON.parse(area.value);
        } catch {
          throw new Error("is not valid JSON");
        }
      },
    };
  }
  const long = (schema.maxLength ?? 0) > 200 || schema.format === "textarea" || (typeof value === "string" && value.length > 80);
  const input = long
    ? el("textarea", { id, class: "sb-input", name: key, rows: 3, maxLength: schema.maxLength, value: value ?? "" })
    : el("input", { id, class: "sb-input", type: "text", name: key, maxLength: schema.maxLength, value: value ?? "" });
  return { node: input, read: () => (input.value === "" && !required ? undefined : input.value) };
}

/** Build the inputs form. `values` prefill it (the Input node's sample, or a run's inputs). */
export function inputsForm(schema, values = {}, { idPrefix = "inputs" } = {}) {
  const element = el("div", { class: "sb-inputs-form" });
  const properties = schema && typeof schema === "object" && schema.properties && typeof schema.properties === "object" ? schema.properties : null;
  const fields = [];
  if (!properties || !Object.keys(properties).length) {
    const id = `${idPrefix}-json`;
    const area = el("textarea", { id, class: "sb-input sb-code", rows: 5, value: JSON.stringify(values || {}, null, 2) });
    area.spellcheck = false;
    element.append(el("label", { class: "sb-field-label", htmlFor: id, text: "Inputs (JSON)" }), area);
    return {
      element,
      read() {
        try {
          const parsed = JSON.parse(area.value || "{}");
          if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error();
          return { values: parsed, errors: [] };
        } catch {
          return { values: null, errors: [{ field: "", message: "Inputs must be a JSON object." }] };
        }
      },
    };
  }
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  for (const [key, sub] of Object.entries(properties)) {
    const fieldSchema = sub && typeof sub === "object" ? sub : {};
    const id = `${idPrefix}-${key.replace(/[^\w-]/g, "_")}`;
    const initial = values && key in values ? values[key] : fieldSchema.default;
    const isRequired = required.has(key);
    const made = control(id, key, fieldSchema, initial, isRequired);
    const label = el("label", { class: "sb-field-label", htmlFor: id }, fieldSchema.title || key);
    if (isRequired) label.append(el("span", { class: "sb-required", "aria-hidden": "true", text: "*" }));
    const problem = el("div", { class: "sb-field-problem", hidden: true, role: "alert" });
    const wrap = el("div", { class: `sb-field${made.inline ? " is-inline" : ""}`, "data-input-field": key });
    if (made.inline) wrap.append(el("label", { class: "sb-check" }, made.node, fieldSchema.title || key));
    else wrap.append(label, made.node);
    if (fieldSchema.description) wrap.append(el("div", { class: "sb-field-hint", text: fieldSchema.description }));
    wrap.append(problem);
    element.append(wrap);
    fields.push({ key, made, problem, wrap, required: isRequired, title: fieldSchema.title || key });
  }
  return {
    element,
    read() {
      const out = {};
      const errors = [];
      for (const field of fields) {
        field.problem.hidden = true;
        field.wrap.classList.remove("has-problem");
        let value;
        try {
          value = field.made.read();
        } catch (error) {
          errors.push({ field: field.key, message: `${field.title} ${error.message}` });
          field.problem.textContent = `${field.title} ${error.message}.`;
          field.problem.hidden = false;
          field.wrap.classList.add("has-problem");
          continue;
        }
        if (value === undefined || value === "") {
          if (field.required) {
            errors.push({ field: field.key, message: `${field.title} is required` });
            field.problem.textContent = `${field.title} is required.`;
            field.problem.hidden = false;
            field.wrap.classList.add("has-problem");
          }
          continue;
        }
        out[field.key] = value;
      }
      return { values: errors.length ? null : out, errors };
    },
  };
}
