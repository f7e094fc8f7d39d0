"""Scripts written the way people (and models) write them for Roblox run unchanged in the sandbox.

One run holds a server NPC walker (PathfindingService), a raycast pistol Tool, name tags
(BillboardGui, Animator), a developer-product receipt handler, a RemoteFunction server and a
client HUD (LocalScript: TweenService on GUI, UserInputService, Camera, Mouse, SetCore).
"""

from __future__ import annotations

from datashark.luau.sandbox import SandboxScript, run_sandbox

NPC = """
local PathfindingService = game:GetService("PathfindingService")
local npc = script.Parent
local humanoid = npc:WaitForChild("Humanoid")
local root = npc:WaitForChild("HumanoidRootPart")
local path = PathfindingService:CreatePath({ AgentRadius = 2, AgentHeight = 5, AgentCanJump = true })
local goal = Vector3.new(20, 0, 0)
local ok, err = pcall(function()
	path:ComputeAsync(root.Position, goal)
end)
if ok and path.Status == Enum.PathStatus.Success then
	for _, waypoint in path:GetWaypoints() do
		if waypoint.Action == Enum.PathWaypointAction.Jump then
			humanoid.Jump = true
		end
		humanoid:MoveTo(waypoint.Position)
		humanoid.MoveToFinished:Wait()
	end
end
print("npc arrived", math.floor(root.Position.X))
"""

GUN = """
local tool = script.Parent
local Players = game:GetService("Players")
local DAMAGE = 25
tool.Activated:Connect(function()
	local character = tool.Parent
	local player = Players:GetPlayerFromCharacter(character)
	local head = character:FindFirstChild("Head")
	if not head then return end
	local params = RaycastParams.new()
	params.FilterDescendantsInstances = { character }
	params.FilterType = Enum.RaycastFilterType.Exclude
	local result = workspace:Raycast(head.Position, head.CFrame.LookVector * 300, params)
	if result and result.Instance then
		local model = result.Instance:FindFirstAncestorOfClass("Model")
		local hum = model and model:FindFirstChildOfClass("Humanoid")
		if hum then
			hum:TakeDamage(DAMAGE)
		end
	end
	local sound = Instance.new("Sound")
	sound.SoundId = "rbxassetid://12222216"
	sound.Parent = head
	sound:Play()
	game:GetService("Debris"):AddItem(sound, 2)
end)
"""

NAMETAG = """
local Players = game:GetService("Players")
Players.PlayerAdded:Connect(function(player)
	player.CharacterAdded:Connect(function(character)
		local head = character:WaitForChild("Head")
		local billboard = Instance.new("BillboardGui")
		billboard.Name = "NameTag"
		billboard.Size = UDim2.new(0, 200, 0, 50)
		billboard.StudsOffset = Vector3.new(0, 2, 0)
		billboard.AlwaysOnTop = true
		billboard.Adornee = head
		local label = Instance.new("TextLabel")
		label.Size = UDim2.fromScale(1, 1)
		label.BackgroundTransparency = 1
		label.Text = player.DisplayName
		label.TextColor3 = Color3.fromRGB(255, 255, 255)
		label.TextStrokeTransparency = 0
		label.Font = Enum.Font.GothamBold
		label.TextScaled = true
		label.Parent = billboard
		billboard.Parent = head
		local humanoid = character:WaitForChild("Humanoid")
		humanoid.DisplayDistanceType = Enum.HumanoidDisplayDistanceType.None
		local anim = Instance.new("Animation")
		anim.AnimationId = "rbxassetid://507771019"
		local track = humanoid:WaitForChild("Animator"):LoadAnimation(anim)
		track:Play()
	end)
end)
"""

RECEIPT = """
local MarketplaceService = game:GetService("MarketplaceService")
local Players = game:GetService("Players")
local PRODUCT_ID = 1234
MarketplaceService.ProcessReceipt = function(receiptInfo)
	local player = Players:GetPlayerByUserId(receiptInfo.PlayerId)
	if not player then
		return Enum.ProductPurchaseDecision.NotProcessedYet
	end
	if receiptInfo.ProductId == PRODUCT_ID then
		local stats = player:FindFirstChild("leaderstats")
		if stats and stats:FindFirstChild("Gems") then
			stats.Gems.Value += 100
		end
	end
	return Enum.ProductPurchaseDecision.PurchaseGranted
end
Players.PlayerAdded:Connect(function(player)
	local ls = Instance.new("Folder", player)
	ls.Name = "leaderstats"
	local gems = Instance.new("IntValue", ls)
	gems.Name = "Gems"
	if MarketplaceService:UserOwnsGamePassAsync(player.UserId, 999) then
		gems.Value = 50
	end
end)
"""

COINS_SERVER = """
local ReplicatedStorage = game:GetService("ReplicatedStorage")
local remote = Instance.new("RemoteFunction")
remote.Name = "GetCoins"
remote.Parent = ReplicatedStorage
remote.OnServerInvoke = function(player)
	return 42
end
local event = Instance.new("RemoteEvent", ReplicatedStorage)
event.Name = "Notify"
game.Players.PlayerAdded:Connect(function(p)
	task.wait(1)
	event:FireClient(p, "welcome")
	event:FireAllClients("joined", p.Name)
end)
"""

CLIENT_UI = """
local Players = game:GetService("Players")
local TweenService = game:GetService("TweenService")
local UserInputService = game:GetService("UserInputService")
local ReplicatedStorage = game:GetService("ReplicatedStorage")
local player = Players.LocalPlayer
local playerGui = player:WaitForChild("PlayerGui")
local camera = workspace.CurrentCamera
local mouse = player:GetMouse()
local gui = Instance.new("ScreenGui")
gui.Name = "Hud"
gui.ResetOnSpawn = false
gui.Parent = playerGui
local frame = Instance.new("Frame")
frame.Size = UDim2.new(0, 300, 0, 100)
frame.Position = UDim2.new(0.5, -150, 1, 0)
frame.Parent = gui
local corner = Instance.new("UICorner")
corner.CornerRadius = UDim.new(0, 12)
corner.Parent = frame
local label = Instance.new("TextLabel")
label.Parent = frame
local coinsRemote = ReplicatedStorage:WaitForChild("GetCoins")
local tween = TweenService:Create(frame, TweenInfo.new(0.5, Enum.EasingStyle.Back, Enum.EasingDirection.Out), { Position = UDim2.new(0.5, -150, 0.8, 0) })
tween:Play()
UserInputService.InputBegan:Connect(function(input, processed)
	if processed then return end
	if input.KeyCode == Enum.KeyCode.Q then
		label.Text = "Coins: " .. tostring(coinsRemote:InvokeServer())
	elseif input.UserInputType == Enum.UserInputType.MouseButton1 then
		print("clicked at", mouse.Hit.Position)
	end
end)
camera.FieldOfView = 80
game:GetService("StarterGui"):SetCore("SendNotification", { Title = "Hi", Text = "Welcome" })
game:GetService("RunService").RenderStepped:Connect(function(dt)
	label.Rotation = (label.Rotation + dt * 10) % 360
end)
"""

SETUP = """
local npc = Instance.new("Model")
npc.Name = "Npc"
local root = Instance.new("Part", npc)
root.Name = "HumanoidRootPart"
root.Position = Vector3.new(0, 3, 0)
Instance.new("Humanoid", npc)
npc.PrimaryPart = root
npc.Parent = workspace
"""

CHECK = """
advance(3)
local p = spawnPlayer("Zed")
assert(p.Character.Head:FindFirstChild("NameTag"), "name tag on the head")
assertEq(purchaseProduct(p, 1234), Enum.ProductPurchaseDecision.PurchaseGranted)
assertEq(p.leaderstats.Gems.Value, 100, "receipt grants gems")
local lp = localPlayer()
pressKey(Enum.KeyCode.Q)
assertEq(lp.PlayerGui.Hud.Frame.TextLabel.Text, "Coins: 42", "client asked the server")
local pistol = lp.Backpack:FindFirstChild("Pistol")
assert(pistol, "StarterPack tool copied to the backpack")
humanoidOf(lp):EquipTool(pistol)
pistol:Activate()
advance(2)
assert(printed("npc arrived 20"), "the NPC walked its path")
assertEq(#clientEvents(game.ReplicatedStorage.Notify), 4, "FireClient and FireAllClients per player")
return true
"""


def test_common_roblox_scripts_run_unchanged() -> None:
    scripts = [
        SandboxScript("NpcWalker", "Script", "Workspace.Npc", NPC),
        SandboxScript("Gun", "Script", "StarterPack.Pistol", GUN),
        SandboxScript("NameTags", "Script", "ServerScriptService", NAMETAG),
        SandboxScript("Receipts", "Script", "ServerScriptService", RECEIPT),
        SandboxScript("CoinsServer", "Script", "ServerScriptService", COINS_SERVER),
        SandboxScript("Hud", "LocalScript", "StarterPlayer.StarterPlayerScripts", CLIENT_UI),
    ]
    result = run_sandbox(scripts, CHECK, timeout_s=5.0, setup=SETUP)
    assert result.ok, f"{result.stage}: {result.error}\n{result.log}"
