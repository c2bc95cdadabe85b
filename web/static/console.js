// 招生办工作台: confirmations, the board's auto-refresh and upload progress. No libraries.
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var button = e.submitter || e.target.querySelector("button");
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { e.preventDefault(); }
  });

  var refresh = document.querySelector('meta[name="kaowu-refresh"]');
  if (refresh) {
    var seconds = parseInt(refresh.getAttribute("content"), 10) || 60;
    var typing = false;
    document.addEventListener("input", function () { typing = true; });
    window.setInterval(function () {
      // Never throw away what the coordinator is typing into the search box.
      if (!typing && document.visibilityState !== "hidden") { window.location.reload(); }
    }, seconds * 1000);
  }

  var job = document.getElementById("job");
  if (job) {
    var state = job.querySelector(".job-state");
    var bar = job.querySelector("progress");
    var message = job.querySelector(".job-message");
    var poll = function () {
      fetch("/knowledge/jobs/" + job.getAttribute("data-job"), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          var text = state.getAttribute("data-" + j.state) || j.state;
          state.textContent = text.replace("{n}", j.passages).replace("{p}", j.percent);
          bar.value = j.percent;
          job.setAttribute("data-state", j.state);
          if (j.state === "failed") { message.textContent = j.message; message.hidden = false; }
          if (j.state === "done") { window.setTimeout(function () { window.location.href = "/knowledge?done=imported"; }, 800); }
          if (j.state !== "done" && j.state !== "failed") { window.setTimeout(poll, 700); }
        })
        .catch(function () { window.setTimeout(poll, 2000); });
    };
    poll();
  }
})();
