/*
 * The dataset upload page (templates/projects/dataset_upload.html):
 *   1. a file arrives by drag and drop or the file picker; its first bytes (file.slice) go to the inspect
 *      view, which answers with the format, the columns, the first rows and a suggested mapping;
 *      A spreadsheet or other binary file is recognised by its first bytes here (and again by the inspect
 *      view and the API), and a file that is not UTF-8 by the inspect view's `problem`: the page says how
 *      to save a CSV UTF-8 file and nothing is uploaded;
 *   2. CSV/TSV get input/output column selects, preselected with the suggestion, and a preview table;
 *      the same column for input and output is refused here (and by the API) with its own message;
 *   3. Upload sends the multipart form to the datasets API with XMLHttpRequest, showing progress;
 *      201 opens the new version's page; 202 (a large file, checked on a worker) opens the import's page,
 *      which follows the check; 400 lists each error (line, field, message) here, keeping the chosen
 *      file; 413 names the size limit.
 */
(function () {
  "use strict";

  const form = document.getElementById("dataset-upload");
  if (!form) return;

  const $ = function (selector) { return form.querySelector(selector); };
  const fileInput = $("#dataset-file");
  const dropzone = $("[data-dropzone]");
  const summary = $("[data-file-summary]");
  const mappingSelects = $("[data-mapping-selects]");
  const mappingNone = $("[data-mapping-none]");
  const inputSelect = $("#input-column");
  const outputSelect = $("#output-column");
  const sameColumn = $("[data-same-column]");
  const mappingWait = $("[data-mapping-wait]");
  const mappingContent = $("[data-mapping-content]");
  const preview = $("[data-preview]");
  const errorBox = $("[data-upload-errors]");
  const errorMessage = $("[data-upload-error-message]");
  const errorTable = $("[data-upload-error-table]");
  const progress = $("[data-progress]");
  const progressBar = progress.querySelector(".progress-bar");
  const progressOuter = progress.querySelector(".progress");
  const progressLabel = $("[data-progress-label]");
  const progressPercent = $("[data-progress-percent]");
  const uploadButton = $("[data-upload-button]");
  const csrfToken = $("input[name=csrfmiddlewaretoken]").value;
  const maxBytes = parseInt(form.dataset.maxBytes, 10);
  const headBytes = parseInt(form.dataset.headBytes, 10) || 65536;

  let chosenFile = null;
  let inspection = null;
  let uploading = false;

  function formatBytes(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    const units = ["KB", "MB", "GB"];
    let value = bytes / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return value.toFixed(value < 10 ? 1 : 0) + " " + units[unit];
  }

  // Leading bytes of files people pick by mistake (projects/ingest/formats.py holds the same list).
  const SIGNATURES = [
    [[0x50, 0x4b, 0x03, 0x04], "a ZIP archive"],
    [[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1], "a legacy Office file (.xls or .doc)"],
    [[0x25, 0x50, 0x44, 0x46], "a PDF document"],
    [[0x1f, 0x8b], "a gzip-compressed file"],
    [[0x89, 0x50, 0x4e, 0x47], "a PNG image"],
    [[0xff, 0xd8, 0xff], "a JPEG image"],
    [[0xff, 0xfe], "UTF-16 text"],
    [[0xfe, 0xff], "UTF-16 text"],
  ];

  function binaryKind(bytes, name) {
    const lower = name.toLowerCase();
    for (let i = 0; i < SIGNATURES.length; i += 1) {
      const signature = SIGNATURES[i][0];
      if (signature.every(function (byte, index) { return bytes[index] === byte; })) {
        if (i === 0 && /\.xls[xm]$/.test(lower)) return "an Excel workbook (.xlsx)";
        if (i === 0 && /\.ods$/.test(lower)) return "an OpenDocument spreadsheet (.ods)";
        return SIGNATURES[i][1];
      }
    }
    return bytes.indexOf(0) >= 0 ? "a binary file" : null;
  }

  function sniff(file) {
    return file.slice(0, 4096).arrayBuffer().then(function (buffer) {
      const kind = binaryKind(new Uint8Array(buffer), file.name);
      if (!kind) return null;
      // The same words as projects/ingest/formats.py's not_text_message.
      const spreadsheet = /workbook|spreadsheet|legacy Office/.test(kind);
      return "“" + file.name + "” is " + kind + ", not a CSV, TSV or JSONL text file. " + (spreadsheet
        ? "Upload a text file: in Excel or LibreOffice choose File → Save As → “CSV UTF-8 (comma delimited)”, " +
          "or export JSONL."
        : "Upload the examples as a text file with one example per line or row: export them as CSV or JSONL " +
          "from the system they come from (a document, an image or an archive holds no rows the studio can read).");
    });
  }

  function mappingIsValid() {
    const same = Boolean(inspection && inspection.needs_mapping && inputSelect.value &&
      inputSelect.value === outputSelect.value);
    sameColumn.hidden = !same;
    outputSelect.classList.toggle("is-invalid", same);
    outputSelect.setAttribute("aria-invalid", same ? "true" : "false");
    return !same;
  }

  function refreshButton() {
    uploadButton.disabled = uploading || !chosenFile || !inspection || Boolean(inspection.problem) ||
      !mappingIsValid();
  }

  function formatName(format) {
    return { csv: "CSV", tsv: "TSV", jsonl: "JSONL", chat_jsonl: "Chat JSONL" }[format] || format;
  }

  function clearErrors() {
    errorBox.hidden = true;
    errorMessage.textContent = "";
    errorTable.hidden = true;
    errorTable.querySelector("tbody").replaceChildren();
  }

  function showError(message, issues) {
    errorMessage.textContent = message;
    const body = errorTable.querySelector("tbody");
    body.replaceChildren();
    (issues || []).forEach(function (issue) {
      const row = document.createElement("tr");
      [issue.line == null ? "—" : String(issue.line), issue.field || "—", issue.message].forEach(function (text) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
    errorTable.hidden = !(issues && issues.length);
    errorBox.hidden = false;
    errorBox.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  function fillSelect(select, columns, chosen) {
    select.replaceChildren();
    columns.forEach(function (column) {
      const option = document.createElement("option");
      option.value = column;
      option.textContent = column;
      option.selected = column === chosen;
      select.appendChild(option);
    });
  }

  function renderPreview(header, rows) {
    const head = preview.querySelector("thead");
    const body = preview.querySelector("tbody");
    head.replaceChildren();
    body.replaceChildren();
    const headRow = document.createElement("tr");
    header.forEach(function (column) {
      const th = document.createElement("th");
      th.textContent = column;
      th.dataset.column = column;
      headRow.appendChild(th);
    });
    head.appendChild(headRow);
    rows.forEach(function (values) {
      const row = document.createElement("tr");
      values.forEach(function (value, index) {
        const cell = document.createElement("td");
        cell.textContent = value;
        cell.dataset.column = header[index];
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
    highlightMapping();
  }

  function highlightMapping() {
    const chosen = { input: inputSelect.value, output: outputSelect.value };
    preview.querySelectorAll("[data-column]").forEach(function (cell) {
      const mapped = inspection && inspection.needs_mapping;
      cell.classList.toggle("studio-col-input", mapped && cell.dataset.column === chosen.input);
      cell.classList.toggle("studio-col-output", mapped && cell.dataset.column === chosen.output);
    });
  }

  function renderInspection(result) {
    inspection = result;
    $("[data-file-format]").textContent = result.format ? formatName(result.format) : "not a text file";
    mappingWait.hidden = true;
    mappingContent.hidden = false;
    mappingSelects.hidden = !result.needs_mapping;
    mappingNone.hidden = result.needs_mapping;
    inputSelect.disabled = outputSelect.disabled = !result.needs_mapping;
    if (result.needs_mapping) {
      fillSelect(inputSelect, result.header, result.suggested.input_column);
      fillSelect(outputSelect, result.header, result.suggested.output_column);
    }
    renderPreview(result.header, result.preview);
    if (result.problem) showError(result.problem);
    refreshButton();
  }

  function inspect(file) {
    const url = form.dataset.inspectUrl + "?filename=" + encodeURIComponent(file.name);
    return fetch(url, {
      method: "POST",
      body: file.slice(0, headBytes),
      headers: { "X-CSRFToken": csrfToken, "Content-Type": "application/octet-stream" },
      credentials: "same-origin",
    }).then(function (response) {
      if (!response.ok) throw new Error("The file could not be read (" + response.status + ").");
      return response.json();
    });
  }

  function choose(file) {
    if (!file || uploading) return;
    chosenFile = file;
    inspection = null;
    clearErrors();
    progress.hidden = true;
    summary.hidden = false;
    $("[data-file-name]").textContent = file.name;
    $("[data-file-size]").textContent = formatBytes(file.size);
    $("[data-file-format]").textContent = "reading…";
    uploadButton.disabled = true;
    mappingWait.hidden = false;
    mappingContent.hidden = true;
    if (file.size > maxBytes) {
      showError("This file is " + formatBytes(file.size) + "; the limit is " + formatBytes(maxBytes) + ".");
      return;
    }
    sniff(file).then(function (problem) {
      if (chosenFile !== file) return null;
      if (problem) {
        $("[data-file-format]").textContent = "not a text file";
        showError(problem);
        return null;
      }
      return inspect(file).then(function (result) {
        if (chosenFile !== file) return;
        renderInspection(result);
      });
    }).catch(function (error) {
      showError(error.message);
    });
  }

  function setProgress(percent, label) {
    const value = Math.max(0, Math.min(100, Math.round(percent)));
    progressBar.style.width = value + "%";
    progressOuter.setAttribute("aria-valuenow", String(value));
    progressPercent.textContent = value + "%";
    if (label) progressLabel.textContent = label;
  }

  function payload() {
    const data = new FormData();
    if (form.dataset.dataset) data.append("dataset", form.dataset.dataset);
    else data.append("project", form.dataset.project);
    data.append("file", chosenFile, chosenFile.name);
    if (inspection && inspection.needs_mapping) {
      data.append("input_column", inputSelect.value);
      data.append("output_column", outputSelect.value);
    }
    ["name", "purpose", "source", "data_owner", "lawful_basis", "retention_days"].forEach(function (name) {
      const field = form.elements.namedItem(name);
      if (field && field.value !== "") data.append(name, field.value);
    });
    const kind = form.querySelector("input[name=kind]:checked");
    if (kind) data.append("kind", kind.value);
    return data;
  }

  function errorOf(xhr) {
    try {
      return JSON.parse(xhr.responseText).error || {};
    } catch (err) {
      return {};
    }
  }

  function fieldIssues(details) {
    // A serializer error: {field: [messages]} → rows without a line.
    const issues = [];
    Object.keys(details || {}).forEach(function (field) {
      const messages = Array.isArray(details[field]) ? details[field] : [details[field]];
      messages.forEach(function (message) {
        if (typeof message === "string") issues.push({ line: null, field: field, message: message });
      });
    });
    return issues;
  }

  function finish(xhr) {
    uploading = false;
    fileInput.disabled = false;
    refreshButton();
    const error = errorOf(xhr);
    if (xhr.status === 201) {
      setProgress(100, "Uploaded and checked. Opening the dataset…");
      progressBar.classList.add("bg-success");
      const version = JSON.parse(xhr.responseText);
      window.location.assign(form.dataset.versionUrl.replace("{id}", String(version.id)));
      return;
    }
    if (xhr.status === 202) {
      setProgress(100, "Uploaded. Opening the page that follows the check…");
      window.location.assign(JSON.parse(xhr.responseText).page_url);
      return;
    }
    progress.hidden = true;
    if (xhr.status === 400) {
      const details = error.details || {};
      const issues = Array.isArray(details.errors) ? details.errors : fieldIssues(details);
      showError(error.message || "The file was not accepted.", issues);
    } else if (xhr.status === 413) {
      const limit = (error.details && error.details.limit_bytes) || maxBytes;
      showError("The file is too large: the limit is " + formatBytes(limit) + ".");
    } else if (xhr.status === 403 || xhr.status === 404) {
      showError(error.message || "You may not upload datasets here.");
    } else if (xhr.status === 0) {
      showError("The upload was interrupted. Check the connection and try again.");
    } else {
      showError(error.message || "The upload failed (" + xhr.status + "). Try again.");
    }
  }

  function upload() {
    if (!chosenFile || uploading || !inspection || inspection.problem || !mappingIsValid()) return;
    uploading = true;
    uploadButton.disabled = true;
    fileInput.disabled = true;
    clearErrors();
    progressBar.classList.remove("bg-success");
    progress.hidden = false;
    setProgress(0, "Uploading…");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.apiUrl);
    xhr.setRequestHeader("X-CSRFToken", csrfToken);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (event) {
      if (event.lengthComputable) setProgress((event.loaded / event.total) * 100, "Uploading…");
    };
    xhr.upload.onload = function () {
      setProgress(100, "Checking every row…");
    };
    xhr.onload = function () { finish(xhr); };
    xhr.onerror = function () { finish(xhr); };
    xhr.send(payload());
  }

  fileInput.addEventListener("change", function () {
    choose(fileInput.files[0]);
  });
  [inputSelect, outputSelect].forEach(function (select) {
    select.addEventListener("change", function () {
      highlightMapping();
      refreshButton();
    });
  });

  ["dragenter", "dragover"].forEach(function (type) {
    dropzone.addEventListener(type, function (event) {
      event.preventDefault();
      dropzone.classList.add("is-dragover");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    dropzone.addEventListener(type, function (event) {
      event.preventDefault();
      dropzone.classList.remove("is-dragover");
    });
  });
  dropzone.addEventListener("drop", function (event) {
    const files = event.dataTransfer && event.dataTransfer.files;
    if (files && files.length) choose(files[0]);
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    upload();
  });
})();
