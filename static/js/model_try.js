/*
 * "Try it" on the model page (templates/training/model_detail.html): the input goes to the try view,
 * which queues it on a worker; the page polls the answer's URL until the worker has answered, then shows
 * the answer (and, for classification, the confidence). Nothing is stored.
 */
(function () {
  "use strict";

  const form = document.getElementById("try-form");
  if (!form) return;
  const box = document.querySelector("[data-try-result]");
  const status = box.querySelector("[data-try-status]");
  const answer = box.querySelector("[data-try-answer]");
  const output = box.querySelector("[data-try-output]");
  const confidence = box.querySelector("[data-try-confidence]");
  const button = form.querySelector("[data-try-button]");
  const input = form.elements.namedItem("input");
  const csrfToken = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const POLL_MS = 800;
  let asking = 0;

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("text-danger-emphasis", Boolean(isError));
  }

  function show(result) {
    output.textContent = result.output;
    answer.hidden = false;
    if (result.confidence !== null && result.confidence !== undefined) {
      confidence.textContent = "Confidence " + Math.round(result.confidence * 100) + "%";
      confidence.hidden = false;
    } else {
      confidence.hidden = true;
    }
    say("Answered by a worker. Nothing was stored.");
  }

  function fail(message) {
    say(message, true);
    button.disabled = false;
  }

  function poll(url, ask) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("The answer is no longer available; ask again.");
        return response.json();
      })
      .then(function (result) {
        if (ask !== asking) return;
        if (result.status === "pending") {
          window.setTimeout(function () { poll(url, ask); }, POLL_MS);
        } else if (result.status === "done") {
          show(result);
          button.disabled = false;
        } else {
          fail(result.message || "The worker could not answer; try again.");
        }
      })
      .catch(function (error) { if (ask === asking) fail(error.message); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!input.value.trim()) {
      fail("Type an input first.");
      input.focus();
      return;
    }
    asking += 1;
    const ask = asking;
    button.disabled = true;
    answer.hidden = true;
    say("Waiting for a worker to answer…");
    const body = new FormData(form);
    fetch(form.dataset.tryUrl, {
      method: "POST",
      body: body,
      headers: { "X-CSRFToken": csrfToken, Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) throw new Error((data.error && data.error.message) || "The question was not accepted.");
          return data;
        });
      })
      .then(function (data) { poll(data.poll_url, ask); })
      .catch(function (error) { if (ask === asking) fail(error.message); });
  });
})();
