// Case page of the gliopet reader study: PET over MRI in NiiVue (vendored, see niivue/README.md),
// with colour map, PET window, opacity, MRI choice and, for dynamic PET, frame scrubbing.
"use strict";

async function startViewer() {
  const data = document.getElementById("viewer-data").dataset;
  const status = document.getElementById("viewer-status");
  const nv = new niivue.Niivue({ backColor: [0, 0, 0, 1], isColorbar: true, show3Dcrosshair: true });
  await nv.attachTo("gl");
  const volumes = [
    { url: data.mri, colormap: "gray" },
    { url: data.frames || data.pet, colormap: "warm", opacity: 0.6 },
  ];
  if (data.saliency) volumes.push({ url: data.saliency, colormap: "red", opacity: 0.45 });
  await nv.loadVolumes(volumes);
  nv.setSliceType(nv.sliceTypeMultiplanar);
  const pet = () => nv.volumes[1];
  document.getElementById("pet-min").value = pet().cal_min.toFixed(1);
  document.getElementById("pet-max").value = pet().cal_max.toFixed(1);
  document.getElementById("colormap").addEventListener("change", (e) => {
    nv.setColormap(pet().id, e.target.value);
  });
  for (const id of ["pet-min", "pet-max"]) {
    document.getElementById(id).addEventListener("change", () => {
      pet().cal_min = parseFloat(document.getElementById("pet-min").value);
      pet().cal_max = parseFloat(document.getElementById("pet-max").value);
      nv.updateGLVolume();
    });
  }
  document.getElementById("pet-opacity").addEventListener("input", (e) => {
    nv.setOpacity(1, e.target.value / 100);
  });
  document.getElementById("mri-choice").addEventListener("change", async (e) => {
    const url = e.target.value === "flair" ? data.flair : data.mri;
    nv.removeVolume(nv.volumes[0]);
    await nv.addVolumeFromUrl({ url: url, colormap: "gray" });
    nv.setVolume(nv.volumes[nv.volumes.length - 1], 0);
  });
  const frame = document.getElementById("frame");
  if (frame && data.frames) {
    frame.max = Math.max(0, pet().nFrame4D - 1);
    frame.value = frame.max;
    nv.setFrame4D(pet().id, Number(frame.max));
    document.getElementById("frame-label").textContent = `${Number(frame.max) + 1} / ${pet().nFrame4D}`;
    frame.addEventListener("input", (e) => {
      nv.setFrame4D(pet().id, Number(e.target.value));
      document.getElementById("frame-label").textContent = `${Number(e.target.value) + 1} / ${pet().nFrame4D}`;
    });
  }
  status.textContent = "Images loaded.";
  document.body.dataset.viewer = "ready";
}

window.addEventListener("DOMContentLoaded", () => {
  startViewer().catch((err) => {
    document.getElementById("viewer-status").textContent = "The viewer could not start: " + err;
    document.body.dataset.viewer = "error";
  });
});
